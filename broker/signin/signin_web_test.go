package signin_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/signin"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

func sessionCookie(c *http.Client, e *brokertest.SigninEnv) *http.Cookie {
	for _, ck := range c.Jar.Cookies(mustURL(e.TS.URL)) {
		if ck.Name == web.BrowserCookieSecure {
			return ck
		}
	}
	return nil
}

// TestWEB06_SessionFixation plants a pre-login cookie; after sign-in the cookie
// is new and the planted one is anonymous.
func TestWEB06_SessionFixation(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	c := brokertest.NewClient(e)
	e.Follow(c, e.Get(c, "/login")) // gets a pre-login cookie (CSRF secret)
	planted := sessionCookie(c, e)
	if planted == nil {
		t.Fatal("no pre-login cookie")
	}
	e.SignIn(c, "alice@oidc.example")
	after := sessionCookie(c, e)
	if after == nil || after.Value == planted.Value {
		t.Fatal("the session cookie did not change at sign-in")
	}
	attacker := brokertest.NewClient(e)
	attacker.Jar.SetCookies(mustURL(e.TS.URL), []*http.Cookie{planted})
	if res := e.Get(attacker, "/account"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("planted cookie: %d, want a redirect to sign in", res.StatusCode)
	}
}

// TestWEB07_LogoutReplay replays a cookie copied before logout.
func TestWEB07_LogoutReplay(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	c := brokertest.NewClient(e)
	_, page := e.SignIn(c, "alice@oidc.example")
	copied := sessionCookie(c, e)
	e.Follow(c, e.PostForm(c, "/logout", brokertest.FormFields(t, page, "/logout")))
	replay := brokertest.NewClient(e)
	replay.Jar.SetCookies(mustURL(e.TS.URL), []*http.Cookie{copied})
	if res := e.Get(replay, "/account"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("replayed cookie after logout: %d", res.StatusCode)
	}
	// GET /logout only asks (WEB-04).
	c2 := brokertest.NewClient(e)
	e.SignIn(c2, "alice@oidc.example")
	e.Follow(c2, e.Get(c2, "/logout"))
	if e.Sessions() != 1 {
		t.Error("GET /logout ended the session")
	}
}

// TestWEB11_SessionLifetime: idle timeout and absolute lifetime, server-side.
func TestWEB11_SessionLifetime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		steps []time.Duration // clock advances, each followed by a request
		alive []bool
	}{
		{"idle", []time.Duration{50 * time.Minute, 61 * time.Minute}, []bool{true, false}},
		{"absolute", []time.Duration{50 * time.Minute, 50 * time.Minute, 25 * time.Minute}, []bool{true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := brokertest.NewSigninEnv(t, brokertest.Options{Settings: map[string]string{
				"GATEHOUSE_SESSION_IDLE_TIMEOUT": "1h", "GATEHOUSE_SESSION_MAX_AGE": "2h"}})
			e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
			c := brokertest.NewClient(e)
			e.SignIn(c, "alice@oidc.example")
			for i, d := range tc.steps {
				e.Clk.Add(d)
				res := e.Get(c, "/account")
				if alive := res.StatusCode == 200; alive != tc.alive[i] {
					t.Fatalf("after step %d: status %d, want alive=%v", i, res.StatusCode, tc.alive[i])
				}
			}
			if e.Sessions() != 0 {
				t.Error("the expired session row is still there")
			}
		})
	}
}

// TestWEB24_DOS08_LoginRateLimit floods login initiation and callbacks from one address.
func TestWEB24_DOS08_LoginRateLimit(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	c := brokertest.NewClient(e)
	limited := 0
	for range 40 {
		res := e.Get(c, "/login/corp")
		res.Body.Close()
		if res.StatusCode == http.StatusTooManyRequests {
			limited++
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Fatal("40 flow starts from one address were all allowed")
	}
	for range 40 {
		res := e.Get(c, "/callback/corp?code=x&state=y")
		res.Body.Close()
		if res.StatusCode == http.StatusTooManyRequests {
			return
		}
	}
	t.Fatal("40 callbacks from one address were all processed")
}

// TestWEB25_OIDC23_NoLinkOnUnverifiedEmail: a second provider with the victim's
// email links automatically only when it vouches for the email: trusted for
// linking, the email verified, and the email's domain one of the provider's
// own. A verified email that does not qualify gets the explicit choice (link by
// proof of both, or a separate account); an unverified one a separate account
// without a word about the existing one.
func TestWEB25_OIDC23_NoLinkOnUnverifiedEmail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		trusted   bool
		verified  any
		ownDomain bool   // the second provider lists the victim's domain too
		email     string // the email it asserts
		linked    bool
		choice    bool // the person is offered the explicit choice
	}{
		{"untrusted_verified", false, true, false, "alice@oidc.example", false, true},
		{"trusted_unverified", true, false, false, "alice@oidc.example", false, false},
		{"trusted_verified_absent", true, nil, false, "alice@oidc.example", false, false},
		{"trusted_verified_other_domain", true, true, false, "alice@oidc.example", false, true},
		{"trusted_verified_other_domain_case", true, true, false, "ALICE@Oidc.Example", false, true},
		{"untrusted_verified_own_domain", false, true, true, "alice@oidc.example", false, true},
		{"trusted_unverified_own_domain", true, false, true, "alice@oidc.example", false, false},
		{"trusted_verified_own_domain", true, true, true, "Alice@OIDC.example", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := brokertest.NewSigninEnv(t, brokertest.Options{})
			e.AddOIDC("corp", "oidc.example", true, brokertest.AliceClaims())
			evil := brokertest.AliceClaims()
			evil["sub"], evil["email"] = "attacker", tc.email
			if tc.verified == nil {
				delete(evil, "email_verified")
			} else {
				evil["email_verified"] = tc.verified
			}
			e.AddOIDC("other", "other.example", tc.trusted, evil, func(s *upstream.Spec) {
				if tc.ownDomain {
					s.Domains = append(s.Domains, "oidc.example")
				}
			})
			vc := brokertest.NewClient(e)
			e.Follow(vc, e.Get(vc, "/login/corp"))
			victim, _ := e.DB.Identities().Get(context.Background(), "corp", "alice-sub")
			c := brokertest.NewClient(e)
			res, page := e.SignIn(c, "alice@other.example")
			offered := strings.Contains(page, `data-testid="link-choice"`)
			if offered != tc.choice {
				t.Fatalf("link choice offered %v, want %v: %s\n%s", offered, tc.choice, res.Request.URL, page)
			}
			if offered {
				// Nothing is linked or created until the person chooses.
				if _, err := e.DB.Identities().Get(context.Background(), "other", "attacker"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("identity stored before the choice: %v", err)
				}
				if !strings.Contains(page, `data-testid="link-choice-corp"`) {
					t.Errorf("the existing account's provider is not offered:\n%s", page)
				}
				e.ChooseLink(c, page, "new")
			}
			second, err := e.DB.Identities().Get(context.Background(), "other", "attacker")
			if err != nil {
				t.Fatal(err)
			}
			if linked := second.UserID == victim.UserID; linked != tc.linked {
				t.Errorf("linked %v, want %v", linked, tc.linked)
			}
			if !tc.linked && e.SessionsOf(victim.UserID) != 1 {
				t.Errorf("victim's account has %d sessions, want only the victim's own", e.SessionsOf(victim.UserID))
			}
		})
	}
}

// TestOIDC24_SubjectCollision: two providers sending the same sub are two
// identities (and, neither vouching for the other's email, two accounts).
func TestOIDC24_SubjectCollision(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.AddOIDC("other", "other.example", false, brokertest.AliceClaims())
	e.SignIn(brokertest.NewClient(e), "alice@oidc.example")
	c := brokertest.NewClient(e)
	_, page := e.SignIn(c, "alice@other.example")
	e.ChooseLink(c, page, "new")
	if e.Users() != 2 || e.Identities() != 2 {
		t.Errorf("users %d identities %d, want 2 and 2", e.Users(), e.Identities())
	}
}

// TestWEB27_LinkFromAccountPage links a second provider explicitly, and refuses
// a link flow that belongs to another session.
func TestWEB27_LinkFromAccountPage(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	c := brokertest.NewClient(e)
	_, page := e.SignIn(c, "alice@oidc.example")
	f := brokertest.FormFields(t, page, "/account/link")
	f.Set("provider", "uni")
	res, page := e.Follow(c, e.PostForm(c, "/account/link", f))
	if !strings.Contains(page, `data-testid="identity-uni"`) || !strings.Contains(page, "Linked your account") {
		t.Fatalf("after link: %s\n%s", res.Request.URL, page)
	}
	if e.Users() != 1 || e.Identities() != 2 {
		t.Errorf("users %d identities %d", e.Users(), e.Identities())
	}
	// Unlink all but the last.
	f = brokertest.FormFields(t, page, "/account/unlink")
	_, page = e.Follow(c, e.PostForm(c, "/account/unlink", f))
	if e.Identities() != 1 || strings.Contains(page, "/account/unlink") {
		t.Errorf("identities %d after unlink; unlink offered for the last: %v", e.Identities(), strings.Contains(page, "/account/unlink"))
	}

	// The attacker starts a link flow in their own session and pushes the
	// response into the victim's browser: refused, nothing linked.
	attacker := brokertest.NewClient(e)
	_, apage := e.SignIn(attacker, "alice@oidc.example")
	_, apage = e.ChooseLink(attacker, apage, "new")
	af := brokertest.FormFields(t, apage, "/account/link")
	af.Set("provider", "uni")
	res = e.PostForm(attacker, "/account/link", af)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("link start: %d", res.StatusCode)
	}
	victim := brokertest.NewClient(e)
	e.SignIn(victim, "alice@oidc.example") // the attacker's account now: no choice
	for _, ck := range attacker.Jar.Cookies(mustURL(e.TS.URL)) {
		if ck.Name == signin.SAMLFlowCookieSecure {
			victim.Jar.SetCookies(mustURL(e.TS.URL), []*http.Cookie{ck})
		}
	}
	before := e.Identities()
	res, page = e.Follow(victim, e.Get(victim, res.Header.Get("Location")))
	if res.StatusCode != http.StatusBadRequest || e.Identities() != before {
		t.Errorf("foreign link flow: %d, identities %d -> %d\n%s", res.StatusCode, before, e.Identities(), page)
	}
	wantAudit(e, "signin.refused", "link_not_bound_to_session")
	// Link requires POST with a CSRF token.
	if res := e.PostForm(victim, "/account/link", url.Values{"provider": {"uni"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("link without CSRF token: %d", res.StatusCode)
	}
}

// TestWEB28_RolesOnlyFromRules: a claim naming a role grants nothing; rules do.
func TestWEB28_RolesOnlyFromRules(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	claims := brokertest.AliceClaims()
	claims["role"] = "admin"
	claims["groups"] = []any{"gatehouse-admin", "staff"}
	e.AddOIDC("corp", "oidc.example", false, claims)
	c := brokertest.NewClient(e)
	e.SignIn(c, "alice@oidc.example")
	sess, _, ok := e.Srv().Web().CurrentSession(requestWithCookies(c, e))
	if !ok || strings.Join(sess.Roles, ",") != "staff" {
		t.Errorf("roles %v, want [staff]", sess.Roles)
	}
}

func requestWithCookies(c *http.Client, e *brokertest.SigninEnv) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, e.TS.URL+"/account", nil)
	for _, ck := range c.Jar.Cookies(mustURL(e.TS.URL)) {
		r.AddCookie(ck)
	}
	return r
}

// TestWEB17_LogoOnlyIfHTTPS: a javascript: logo is refused at save; an http
// one is never rendered.
func TestWEB17_LogoOnlyIfHTTPS(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	spec := upstream.Spec{ID: "bad", Kind: upstream.KindOIDC, Name: "Bad", ClientSecret: "x",
		OIDC: &upstream.OIDCSettings{Issuer: e.OIDC.URL(), ClientID: "gatehouse", Common: upstream.Common{LogoURL: "javascript:alert(1)"}}}
	if _, _, err := upstream.Upsert(context.Background(), e.DB, e.Srv().Upstreams().Env(), spec); err == nil {
		t.Fatal("a javascript: logo URL was accepted")
	}
	if got := web.HTTPSURL(" jAvAsCrIpT:alert(1)"); got != "" {
		t.Errorf("httpsURL kept %q", got)
	}
	if got := web.HTTPSURL("http://logo.example/x.png"); got != "" {
		t.Errorf("httpsURL kept %q", got)
	}
}

// TestSAML36_ReturnToOnlyLocal: return_to survives the flow only as a local
// path (the rule itself: package signin's test of the same name).
func TestSAML36_ReturnToOnlyLocal(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	c := brokertest.NewClient(e)
	res, _ := e.Follow(c, e.Get(c, "/login?login_hint=alice%40oidc.example&return_to=%2Fsigned-out%3Fa%3D1"))
	if res.Request.URL.RequestURI() != "/signed-out?a=1" {
		t.Errorf("ended at %s", res.Request.URL)
	}
}

// TestRegistryPicksUpEdits: an admin's edit (a new version) reaches a running
// server without restart; disabling hides the provider.
func TestRegistryPicksUpEdits(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	p, _ := e.DB.Providers().Get(context.Background(), "corp")
	p.Enabled = false
	if err := e.DB.Providers().Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	e.Clk.Add(time.Second)
	if res := e.Get(brokertest.NewClient(e), "/login/corp"); res.StatusCode != http.StatusNotFound {
		t.Errorf("disabled provider: %d", res.StatusCode)
	}
	_ = store.ErrNotFound
}
