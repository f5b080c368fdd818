package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/html"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// call is one HTTP exchange the load made, as the client saw it.
type call struct {
	kind       string
	replica    int
	start, end time.Time
	status     int // 0: no answer (connection refused or reset, a killed replica)
	// canceled: the load stopped while it was under way.
	canceled bool
}

// ack is an action a replica acknowledged with a 2xx, which must leave its
// audit row (matched by the request ID the replica answered with).
type ack struct {
	action  string
	replica int
	// sent is when the harness sent the request (or the first of its
	// redirects), at when the answer arrived.
	sent, at time.Time
	batched  bool // issuance events are written in batches, not before the answer
}

// consentState is what the last acknowledged consent action of a person left.
type consentState int

const (
	consentUnknown consentState = iota // nothing acknowledged, or an answer lost
	consentGranted
	consentRevoked
)

// revokedToken is a token an acknowledged revocation ended, with the client it
// was issued to (who may introspect it).
type revokedToken struct {
	token, client, how string
}

// signinFailure is a sign-in that ended on a Gatehouse error page.
type signinFailure struct {
	at       time.Time
	path     string
	status   int
	readable bool   // the page says what happened (data-testid="error-message")
	reqID    string // the replica's request ID, to find it in its log
}

// ledger records the load: every call and everything acknowledged.
type ledger struct {
	mu            sync.Mutex
	calls         []call
	acks          map[string]ack // request ID ->
	revoked       []revokedToken
	pool          []string // recent client_credentials access tokens, for introspection
	codeRaces     int      // codes redeemed on both replicas at once
	codeDoubles   int      // ... and accepted twice
	codesRedeemed int
	rtRaces       int // refresh tokens presented to both replicas at once
	rtDoubles     int // ... and rotated twice
	rotations     int
	consents      map[int]consentState
	consentAcks   map[consentState]int
	jars          map[int]http.CookieJar // each person's last signed-in browser
	// live are the refresh tokens last acknowledged in their chain and neither
	// presented since nor revoked: each must still be active, unless the
	// person signed in 50 times since (each sign-in is a new browser, and a
	// person's sessions beyond 50 end with their tokens: DOS-12).
	live        map[string]liveRT
	attempts    map[int]int // sign-ins each person began
	signins     int
	signinFails []signinFailure
}

// liveRT is whose a live refresh token is and from which of their sign-ins.
type liveRT struct {
	person, attempt int
}

func newLedger() *ledger {
	return &ledger{acks: map[string]ack{}, consents: map[int]consentState{}, consentAcks: map[consentState]int{},
		jars: map[int]http.CookieJar{}, live: map[string]liveRT{}, attempts: map[int]int{}}
}

func (l *ledger) locked(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   string
	url    *url.URL
	sent   time.Time // when the request (or the first of its redirects) was sent
	at     time.Time // when it arrived
}

// do sends req through replica n's client and records the call.
func (l *ledger) do(c *http.Client, kind string, n int, req *http.Request) (answer, error) {
	start := time.Now()
	res, err := c.Do(req)
	var a answer
	if err == nil {
		var b []byte
		b, err = io.ReadAll(res.Body)
		res.Body.Close()
		a = answer{status: res.StatusCode, header: res.Header, body: string(b), url: res.Request.URL, sent: start, at: time.Now()}
	}
	canceled := req.Context().Err() != nil
	l.locked(func() {
		l.calls = append(l.calls, call{kind: kind, replica: n, start: start, end: time.Now(), status: a.status, canceled: canceled})
	})
	return a, err
}

// acked records an acknowledged action by the request ID its answer carries.
func (l *ledger) acked(a answer, action string, n int, batched bool) {
	id := a.header.Get("X-Request-ID")
	l.locked(func() { l.acks[id] = ack{action: action, replica: n, sent: a.sent, at: a.at, batched: batched} })
}

// tokenResponse is RFC 6749 §5.1's.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// loader runs the load against a world.
type loader struct {
	w *world
	l *ledger
}

// ccLoop asks for client_credentials tokens on alternate replicas, revoking one
// in ten (RFC 7009) as svc.
func (ld *loader) ccLoop(ctx context.Context, rng *rand.Rand) {
	for i := 0; ctx.Err() == nil; i++ {
		n := i % ld.w.n()
		req, _ := ld.w.form(ctx, n, "/oauth2/token", "svc", url.Values{"grant_type": {"client_credentials"}})
		a, err := ld.l.do(ld.w.client(n, nil), "client_credentials", n, req)
		if err == nil && a.status == 200 {
			ld.l.acked(a, "token.issued", n, true)
			var tok tokenResponse
			if json.Unmarshal([]byte(a.body), &tok) == nil {
				ld.l.locked(func() {
					ld.l.pool = append(ld.l.pool, tok.AccessToken)
					if len(ld.l.pool) > 64 {
						ld.l.pool = ld.l.pool[1:]
					}
				})
				if rng.IntN(10) == 0 {
					ld.revoke(ctx, rng.IntN(ld.w.n()), "svc", tok.AccessToken, "access token revoked (RFC 7009)")
				}
			}
		}
		pause(ctx, 25*time.Millisecond)
	}
}

// introspectLoop introspects recent access tokens as the API's resource server.
func (ld *loader) introspectLoop(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		var tok string
		ld.l.locked(func() {
			if len(ld.l.pool) > 0 {
				tok = ld.l.pool[rng.IntN(len(ld.l.pool))]
			}
		})
		if tok != "" {
			n := rng.IntN(ld.w.n())
			req, _ := ld.w.form(ctx, n, "/oauth2/introspect", "rs", url.Values{"token": {tok}})
			_, _ = ld.l.do(ld.w.client(n, nil), "introspection", n, req)
		}
		pause(ctx, 25*time.Millisecond)
	}
}

// revoke revokes tok (RFC 7009) as client at replica n; an acknowledged
// revocation must leave tok inactive everywhere.
func (ld *loader) revoke(ctx context.Context, n int, client, tok, how string) {
	req, _ := ld.w.form(ctx, n, "/oauth2/revoke", client, url.Values{"token": {tok}})
	a, err := ld.l.do(ld.w.client(n, nil), "revocation", n, req)
	if err == nil && a.status == 200 {
		ld.l.locked(func() { ld.l.revoked = append(ld.l.revoked, revokedToken{tok, client, how}) })
	}
}

// personLoop is person u signing in to web again and again through the
// upstream IdP (a fresh browser each time), then redeeming the code, rotating
// the refresh token, and now and then revoking a token or the app's consent.
func (ld *loader) personLoop(ctx context.Context, rng *rand.Rand, u int) {
	var issued []revokedToken // tokens web holds for u since the last consent revocation
	for ctx.Err() == nil {
		jar, _ := cookiejar.New(nil)
		n := rng.IntN(ld.w.n())
		q := brokertest.NewAuthzReq("web", appCB, "openid offline_access notes.read")
		var attempt int
		ld.l.locked(func() { ld.l.attempts[u]++; attempt = ld.l.attempts[u] })
		ip := fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
		code, err := ld.signIn(ctx, n, jar, ip, u, q)
		if err != nil || code == "" {
			pause(ctx, 100*time.Millisecond)
			continue
		}
		ld.l.locked(func() { ld.l.jars[u] = jar; ld.l.signins++ })
		redeem := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {q.Verifier},
			"redirect_uri": {appCB}}
		// A raced code's or refresh token's loser may revoke what the winner got
		// (RFC 6749 §4.1.2, RFC 9700 §4.14.2): such a chain's last token is not
		// known to be live.
		raced := rng.IntN(4) == 0
		known := !raced
		tok, ok := ld.race(ctx, raced, n, redeem, "redeem")
		if !ok {
			continue
		}
		issued = append(issued, revokedToken{tok.AccessToken, "web", "access token of a revoked consent"},
			revokedToken{tok.RefreshToken, "web", "refresh token of a revoked consent"})
		rt := tok.RefreshToken
		for range 3 {
			raced = rng.IntN(4) == 0
			known = known && !raced
			tok, ok = ld.race(ctx, raced, rng.IntN(ld.w.n()),
				url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "refresh")
			if !ok {
				known = false // refused, or its answer lost: rotated or not
				break
			}
			rt = tok.RefreshToken
			issued = append(issued, revokedToken{tok.AccessToken, "web", "access token of a revoked consent"},
				revokedToken{tok.RefreshToken, "web", "refresh token of a revoked consent"})
		}
		if rng.IntN(4) == 0 {
			ld.revoke(ctx, rng.IntN(ld.w.n()), "web", rt, "refresh token revoked (RFC 7009)")
			known = false
		}
		if known {
			ld.l.locked(func() { ld.l.live[rt] = liveRT{u, attempt} })
		}
		// Half the people revoke the app's consent now and then (ending every
		// token it holds for them); the others keep theirs, whose last refresh
		// tokens stay live to the end.
		if u%2 == 0 && rng.IntN(4) == 0 {
			acked := ld.revokeConsent(ctx, rng.IntN(ld.w.n()), jar, ip, u)
			ld.l.locked(func() {
				// Revoked, or maybe (an answer lost): live no longer either way.
				for _, tok := range issued {
					delete(ld.l.live, tok.token)
				}
				if acked {
					ld.l.revoked = append(ld.l.revoked, issued...)
				}
			})
			if acked {
				issued = nil
			}
		}
	}
}

// race posts v to the token endpoint as web: at replica n, or (both) at both
// replicas at once, where at most one may succeed (a code or a refresh token is
// good once: RFC 6749 §4.1.2, §10.4; RFC 9700 §4.14.2).
func (ld *loader) race(ctx context.Context, both bool, n int, v url.Values, kind string) (tokenResponse, bool) {
	targets := []int{n}
	if both {
		targets = []int{0, 1 % ld.w.n()}
	}
	answers := make([]answer, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, m := range targets {
		wg.Go(func() {
			req, _ := ld.w.form(ctx, m, "/oauth2/token", "web", v)
			answers[i], errs[i] = ld.l.do(ld.w.client(m, nil), kind, m, req)
		})
	}
	wg.Wait()
	var won []tokenResponse
	for i, a := range answers {
		if errs[i] == nil && a.status == 200 {
			ld.l.acked(a, "token.issued", targets[i], true)
			var tok tokenResponse
			if json.Unmarshal([]byte(a.body), &tok) == nil && tok.RefreshToken != "" {
				won = append(won, tok)
			}
		}
	}
	ld.l.locked(func() {
		switch kind {
		case "redeem":
			ld.l.codesRedeemed += len(won)
			if both {
				ld.l.codeRaces++
				if len(won) > 1 {
					ld.l.codeDoubles++
				}
			}
		default:
			ld.l.rotations += len(won)
			if both {
				ld.l.rtRaces++
				if len(won) > 1 {
					ld.l.rtDoubles++
				}
			}
		}
	})
	if len(won) == 0 {
		return tokenResponse{}, false
	}
	return won[0], true
}

var errSignin = errors.New("sign-in did not end at the app")

// signIn is a browser's authorization-code sign-in of person u at replica n
// (login page, the IdP's pick page, consent when asked): the code, or an error.
func (ld *loader) signIn(ctx context.Context, n int, jar http.CookieJar, ip string, u int, q brokertest.AuthzReq) (string, error) {
	c := ld.w.client(n, jar)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ld.w.issuer+q.URL(), nil)
	consentPosted := false
	defer func() {
		if consentPosted { // its answer never came back: the consent may or may not be stored
			ld.l.locked(func() { ld.l.consents[u] = consentUnknown })
		}
	}()
	for hop := 0; hop < 20; hop++ {
		kind := "signin"
		if !strings.HasPrefix(req.URL.String(), ld.w.issuer) {
			kind = "idp"
		} else {
			req.Header.Set("X-Forwarded-For", ip)
		}
		a, err := ld.l.do(c, kind, n, req)
		if err != nil {
			return "", err
		}
		if loc := a.header.Get("Location"); loc != "" && a.status/100 == 3 {
			next, err := a.url.Parse(loc)
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(next.String(), appCB) {
				if consentPosted {
					consentPosted = false
					ld.l.acked(a, "consent.granted", n, false)
					ld.l.locked(func() { ld.l.consents[u] = consentGranted; ld.l.consentAcks[consentGranted]++ })
				}
				return next.Query().Get("code"), nil
			}
			if strings.HasPrefix(next.String(), ld.w.idp.URL()+"/authorize") {
				v := next.Query()
				v.Set("user", fmt.Sprint(u)) // the IdP's pick-who-you-are page, answered
				next.RawQuery = v.Encode()
			}
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
			continue
		}
		var action, field, value string
		switch {
		case a.status == 200 && strings.Contains(a.body, `data-testid="login-form"`):
			action, field, value = "/login", "email", userEmail(u)
		case a.status == 200 && strings.Contains(a.body, `data-testid="consent-form"`):
			action, field, value = "/oauth2/consent", "decision", "approve"
		default:
			if kind == "signin" {
				ld.l.locked(func() {
					ld.l.signinFails = append(ld.l.signinFails, signinFailure{at: time.Now(), path: a.url.Path, status: a.status,
						readable: strings.Contains(a.body, `data-testid="error-message"`), reqID: a.header.Get("X-Request-ID")})
				})
			}
			return "", errSignin
		}
		f, err := formFields(a.body, action)
		if err != nil {
			return "", err
		}
		f.Set(field, value)
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, ld.w.issuer+action, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", ld.w.issuer)
		consentPosted = consentPosted || action == "/oauth2/consent"
	}
	return "", errSignin
}

// revokeConsent is the account page's "Revoke" of web for person u, in the
// browser u signed in with: true once acknowledged (303 back to /account).
func (ld *loader) revokeConsent(ctx context.Context, n int, jar http.CookieJar, ip string, u int) bool {
	c := ld.w.client(n, jar)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ld.w.issuer+"/account/apps/revoke?client=web", nil)
	req.Header.Set("X-Forwarded-For", ip)
	a, err := ld.l.do(c, "consent-revoke", n, req)
	if err != nil || a.status != 200 {
		return false
	}
	f, err := formFields(a.body, "/account/apps/revoke")
	if err != nil {
		return false
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, ld.w.issuer+"/account/apps/revoke", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ld.w.issuer)
	req.Header.Set("X-Forwarded-For", ip)
	a, err = ld.l.do(c, "consent-revoke", n, req)
	switch {
	case err == nil && a.status == http.StatusSeeOther && strings.HasPrefix(a.header.Get("Location"), "/account?revoked="):
		ld.l.acked(a, "consent.revoked", n, false)
		ld.l.locked(func() { ld.l.consents[u] = consentRevoked; ld.l.consentAcks[consentRevoked]++ })
		return true
	default:
		ld.l.locked(func() { ld.l.consents[u] = consentUnknown })
		return false
	}
}

// formFields are the inputs of the form posting to action in page (reusing
// brokertest's walk of one form; this one returns an error, as a page under
// faults may be an error page instead).
func formFields(page, action string) (url.Values, error) {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return nil, err
	}
	var out url.Values
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "form" && brokertest.Attr(n, "action") == action && out == nil {
			out = url.Values{}
			brokertest.CollectInputs(n, out)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if out == nil {
		return nil, fmt.Errorf("no form posting to %s", action)
	}
	return out, nil
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
