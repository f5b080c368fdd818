// Command scaleload drives one of the requests issue 14's scale table measures
// against a Gatehouse on loopback, closed loop with -conns connections for
// -duration after a -warmup, and prints one RESULT line in the format of
// ../shared/bench/post.lua (p50/p90/p99 of the measured request). It also
// serves the upstream OIDC IdP those sign-ins go through (-idp).
//
// Scenarios (-scenario):
//
//	cc          POST /oauth2/token, client_credentials (-auth)
//	refresh     POST /oauth2/token, refresh_token: each connection rotates its own
//	            chain from -tokens (tools/seed's fixtures), written back at the end;
//	            their grant holds openid, so each answer carries an ID token, signed
//	            RS256 by default (about 0.9 ms of CPU here, more than the rest)
//	refresh-api the same chains refreshed with scope=api (RFC 6749 §6: a narrower
//	            scope), as a client of one API does: no ID token, so the rotation's
//	            own cost (issue 14's "refresh rotation" target)
//	introspect  POST /oauth2/introspect (-auth, a resource server) of a person's
//	            access token, got by one refresh (-app-auth)
//	signin      GET /callback/{provider}: the sign-in callback, after /login and the
//	            IdP's /authorize (not measured), as one of -people each time
//	account     GET /account with the session cookie of a person signed in first
//	audit       GET /api/admin/v1/audit?-audit-query with a client_credentials
//	            token of the gatehouse:admin scope (-auth)
//
// Every run is bounded in time and connections, and only to loopback.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/providers/providertest"
)

type options struct {
	base, scenario, label, auth, appAuth, tokens, people, provider, auditQuery string
	conns                                                                      int
	duration, warmup                                                           time.Duration
}

func main() {
	var o options
	idp := flag.String("idp", "", "serve the upstream OIDC IdP on this loopback address instead (with -people, -idp-client-id, -idp-secret)")
	idpClient := flag.String("idp-client-id", "gatehouse-scale", "the IdP's client ID for Gatehouse")
	idpSecret := flag.String("idp-secret", "", "the IdP's client secret for Gatehouse")
	idpFor := flag.Duration("idp-for", 3*time.Hour, "the IdP stops after this long at the latest")
	flag.StringVar(&o.base, "url", "", "Gatehouse's loopback base URL (http://127.0.0.1:PORT)")
	flag.StringVar(&o.scenario, "scenario", "", "cc, refresh, refresh-api, introspect, signin, account or audit")
	flag.StringVar(&o.label, "label", "", "label of the RESULT line (default: the scenario)")
	flag.StringVar(&o.auth, "auth", "", "Authorization header of the client: cc's, the resource server's (introspect), the admin client's (audit)")
	flag.StringVar(&o.appAuth, "app-auth", "", "Authorization header of the client the -tokens belong to (refresh, introspect)")
	flag.StringVar(&o.tokens, "tokens", "", "file of refresh tokens, one a line (tools/seed's refresh-tokens.txt); rewritten with their successors")
	flag.StringVar(&o.people, "people", "", "tools/seed's people.tsv: who the IdP signs in")
	flag.StringVar(&o.provider, "provider", "scale-idp", "provider ID of the IdP at Gatehouse")
	flag.StringVar(&o.auditQuery, "audit-query", "action=consent.granted&limit=50", "query of the audit scenario's admin API call")
	flag.IntVar(&o.conns, "conns", 16, "connections, each one request at a time (at most 256)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of the measured run (at most 5m)")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "length of an unmeasured run before it")
	flag.Parse()
	var err error
	if *idp != "" {
		err = serveIdP(*idp, o.people, *idpClient, *idpSecret, *idpFor)
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaleload:", err)
		os.Exit(1)
	}
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// serveIdP runs providertest's OIDC issuer with the seeded people until
// SIGINT/SIGTERM or max: /authorize?…&user=N signs in person N at once.
func serveIdP(addr, peopleFile, clientID, secret string, max time.Duration) error {
	if host, _, err := net.SplitHostPort(addr); err != nil || !loopback(host) {
		return fmt.Errorf("refusing non-loopback -idp address %q", addr)
	}
	people, err := readPeople(peopleFile)
	if err != nil {
		return err
	}
	var users []providertest.DemoUser
	for _, p := range people {
		users = append(users, providertest.DemoUser{Label: p[2], Claims: map[string]any{
			"sub": p[0], "email": p[1], "email_verified": true, "name": p[2]}})
	}
	iss := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: clientID, ClientSecret: secret, Now: time.Now,
		Addr: addr, AdvertiseIssParameter: true, Users: users})
	defer iss.Close()
	if iss.URL() != "http://"+addr {
		return fmt.Errorf("the IdP could not listen on %s (got %s)", addr, iss.URL())
	}
	fmt.Printf("scaleload: IdP %s with %d people\n", iss.URL(), len(users))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case <-time.After(max):
	}
	return nil
}

// readPeople reads people.tsv: subject, email, name, user ID.
func readPeople(path string) ([][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]string
	for line := range strings.Lines(string(b)) {
		if f := strings.Split(strings.TrimSpace(line), "\t"); len(f) >= 3 {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: nobody", path)
	}
	return out, nil
}

// load is one scenario's state: its client and what each connection holds.
type load struct {
	options
	client *http.Client
	people [][]string
	mu     sync.Mutex
	chains []string // refresh: each connection's current token
	scope  string   // refresh-api: the scope asked for on refresh
	jars   []http.CookieJar
	bearer string // introspect: the token; audit: the admin API token
	addrs  atomic.Uint32
}

func run(o options) error {
	u, err := url.Parse(o.base)
	if err != nil || u.Scheme != "http" || !loopback(u.Hostname()) {
		return fmt.Errorf("-url must be an http:// loopback URL, not %q", o.base)
	}
	if o.conns < 1 || o.conns > 256 || o.duration <= 0 || o.duration > 5*time.Minute || o.warmup < 0 || o.warmup > time.Minute {
		return errors.New("-conns 1..256, -duration up to 5m, -warmup up to 1m")
	}
	if o.label == "" {
		o.label = o.scenario
	}
	l := &load{options: o, client: &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: o.conns + 4, MaxConnsPerHost: o.conns + 4, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if l.people, err = l.readPeopleIf(); err != nil {
		return err
	}
	op, err := l.setup()
	if err != nil {
		return fmt.Errorf("%s setup: %w", o.scenario, err)
	}
	if o.warmup > 0 {
		l.run(op, o.warmup)
	}
	r := l.run(op, o.duration)
	fmt.Println(r.line(o.label))
	if o.scenario == "refresh" || o.scenario == "refresh-api" || o.scenario == "introspect" {
		return l.saveTokens()
	}
	return nil
}

func (l *load) readPeopleIf() ([][]string, error) {
	if l.scenario != "signin" && l.scenario != "account" {
		return nil, nil
	}
	return readPeople(l.options.people)
}

// op is one measured request of connection c: its status (0 for a failure
// before an answer) and how long the measured request took.
type op func(c int) (ok bool, took time.Duration)

func (l *load) setup() (op, error) {
	switch l.scenario {
	case "cc":
		return l.form("/oauth2/token", l.auth, "grant_type=client_credentials&scope=api"), nil
	case "refresh", "refresh-api":
		if err := l.loadTokens(l.conns); err != nil {
			return nil, err
		}
		if l.scenario == "refresh-api" {
			l.scope = "api"
		}
		return l.refresh, nil
	case "introspect":
		if err := l.loadTokens(1); err != nil {
			return nil, err
		}
		at, _, err := l.rotate(0)
		if err != nil {
			return nil, err
		}
		return l.form("/oauth2/introspect", l.auth, "token="+url.QueryEscape(at)), nil
	case "signin":
		return func(int) (bool, time.Duration) {
			jar, _ := cookiejar.New(nil) // no options: never fails
			return l.signIn(jar, rand.IntN(len(l.people)))
		}, nil
	case "account":
		l.jars = make([]http.CookieJar, l.conns)
		for c := range l.jars {
			l.jars[c], _ = cookiejar.New(nil)
			if ok, _ := l.signIn(l.jars[c], c%len(l.people)); !ok {
				return nil, fmt.Errorf("sign-in as %s failed", l.people[c%len(l.people)][1])
			}
		}
		return func(c int) (bool, time.Duration) {
			req, _ := http.NewRequest(http.MethodGet, l.base+"/account", nil)
			return l.timed(req, l.jars[c], http.StatusOK)
		}, nil
	case "audit":
		res, err := l.post("/oauth2/token", l.auth, "grant_type=client_credentials&scope=gatehouse:admin")
		if err != nil {
			return nil, err
		}
		if l.bearer = res["access_token"]; l.bearer == "" {
			return nil, fmt.Errorf("no admin token: %v", res)
		}
		return func(int) (bool, time.Duration) {
			req, _ := http.NewRequest(http.MethodGet, l.base+"/api/admin/v1/audit?"+l.auditQuery, nil)
			req.Header.Set("Authorization", "Bearer "+l.bearer)
			return l.timed(req, nil, http.StatusOK)
		}, nil
	}
	return nil, fmt.Errorf("unknown -scenario %q", l.scenario)
}

// timed sends req (with jar's cookies) and reports whether it answered want.
func (l *load) timed(req *http.Request, jar http.CookieJar, want int) (bool, time.Duration) {
	if jar != nil {
		for _, c := range jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
	}
	t0 := time.Now()
	res, err := l.client.Do(req)
	if err != nil {
		return false, time.Since(t0)
	}
	_, err = io.Copy(io.Discard, res.Body) // to the end, so the connection is reused
	took := time.Since(t0)
	res.Body.Close()
	if jar != nil {
		jar.SetCookies(req.URL, res.Cookies())
	}
	return err == nil && res.StatusCode == want, took
}

func (l *load) form(path, auth, body string) op {
	return func(int) (bool, time.Duration) {
		req, _ := http.NewRequest(http.MethodPost, l.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", auth)
		return l.timed(req, nil, http.StatusOK)
	}
}

// post sends a form and returns the string fields of its JSON answer.
func (l *load) post(path, auth, body string) (map[string]string, error) {
	req, _ := http.NewRequest(http.MethodPost, l.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", auth)
	res, err := l.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", path, res.Status, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %v", path, res.Status, out)
	}
	s := map[string]string{}
	for k, v := range out {
		if str, ok := v.(string); ok {
			s[k] = str
		}
	}
	return s, nil
}

func (l *load) loadTokens(need int) error {
	f, err := os.Open(l.tokens)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			l.chains = append(l.chains, t)
		}
	}
	if len(l.chains) < need {
		return fmt.Errorf("%s: %d refresh tokens, want %d", l.tokens, len(l.chains), need)
	}
	return sc.Err()
}

func (l *load) saveTokens() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return os.WriteFile(l.tokens, []byte(strings.Join(l.chains, "\n")+"\n"), 0o600)
}

// rotate refreshes chain c's token and keeps its successor.
func (l *load) rotate(c int) (access string, took time.Duration, err error) {
	l.mu.Lock()
	tok := l.chains[c]
	l.mu.Unlock()
	t0 := time.Now()
	body := "grant_type=refresh_token&refresh_token=" + url.QueryEscape(tok)
	if l.scope != "" {
		body += "&scope=" + url.QueryEscape(l.scope)
	}
	res, err := l.post("/oauth2/token", l.appAuth, body)
	took = time.Since(t0)
	if err != nil {
		return "", took, err
	}
	l.mu.Lock()
	l.chains[c] = res["refresh_token"]
	l.mu.Unlock()
	return res["access_token"], took, nil
}

func (l *load) refresh(c int) (bool, time.Duration) {
	_, took, err := l.rotate(c)
	return err == nil, took
}

// signIn goes through /login/{provider}, the IdP's /authorize as person n,
// and measures the callback, which must send the browser on (303 or 302).
//
// Each sign-in comes from its own address (X-Forwarded-For, which Gatehouse
// believes from loopback under tools/scale.sh's GATEHOUSE_TRUSTED_PROXIES), as
// a population of people behind a proxy would: the per-address sign-in limit
// is not what is measured.
func (l *load) signIn(jar http.CookieJar, n int) (bool, time.Duration) {
	a := l.addrs.Add(1)
	from := fmt.Sprintf("198.18.%d.%d", (a>>8)%256, a%256) // RFC 2544's benchmarking range: only a header
	loc := func(rawURL string) (string, bool) {
		req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
		req.Header.Set("X-Forwarded-For", from)
		for _, c := range jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		res, err := l.client.Do(req)
		if err != nil {
			return "", false
		}
		_, _ = io.Copy(io.Discard, res.Body) // the redirect's body is of no use
		res.Body.Close()
		jar.SetCookies(req.URL, res.Cookies())
		if res.StatusCode/100 != 3 {
			return "", false
		}
		return res.Header.Get("Location"), true
	}
	authz, ok := loc(l.base + "/login/" + l.provider + "?return_to=/account")
	if !ok {
		return false, 0
	}
	u, err := url.Parse(authz)
	if err != nil || !loopback(u.Hostname()) {
		return false, 0
	}
	q := u.Query()
	q.Set("user", fmt.Sprint(n))
	u.RawQuery = q.Encode()
	callback, ok := loc(u.String())
	if !ok || !strings.HasPrefix(callback, l.base+"/callback/") {
		return false, 0
	}
	req, _ := http.NewRequest(http.MethodGet, callback, nil)
	req.Header.Set("X-Forwarded-For", from)
	for _, c := range jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	t0 := time.Now()
	res, err := l.client.Do(req)
	if err != nil {
		return false, time.Since(t0)
	}
	_, _ = io.Copy(io.Discard, res.Body) // to the end, so the connection is reused
	took := time.Since(t0)
	res.Body.Close()
	jar.SetCookies(req.URL, res.Cookies())
	return res.StatusCode/100 == 3 && strings.HasSuffix(res.Header.Get("Location"), "/account"), took
}

type result struct {
	latencies []time.Duration
	failed    int
	elapsed   time.Duration
}

// run keeps every connection busy with op until d has passed.
func (l *load) run(op op, d time.Duration) result {
	var mu sync.Mutex
	var r result
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for c := range l.conns {
		wg.Go(func() {
			var lat []time.Duration
			failed := 0
			for time.Now().Before(deadline) {
				ok, took := op(c)
				lat = append(lat, took)
				if !ok {
					failed++
					if l.scenario == "refresh" || l.scenario == "refresh-api" {
						return // the chain is broken: its next request would be refused too
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			r.latencies = append(r.latencies, lat...)
			r.failed += failed
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	return r
}

// line formats r as post.lua's RESULT line; non2xx counts every request that
// did not answer as expected.
func (r result) line(label string) string {
	slices.Sort(r.latencies)
	ms := func(q float64) float64 {
		if len(r.latencies) == 0 {
			return 0
		}
		i := int(q*float64(len(r.latencies))+0.999999) - 1 // nearest rank
		return float64(r.latencies[max(0, min(i, len(r.latencies)-1))]) / float64(time.Millisecond)
	}
	n := len(r.latencies)
	return fmt.Sprintf("RESULT label=%s reqs=%d dur_s=%.2f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d sockerr=0",
		label, n, r.elapsed.Seconds(), float64(n)/r.elapsed.Seconds(), ms(0.5), ms(0.9), ms(0.99), ms(1), r.failed)
}
