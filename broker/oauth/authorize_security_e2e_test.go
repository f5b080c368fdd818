package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// wantErrorPage asserts a refusal shown as a page: 400, no Location (never a
// redirect to an unvalidated URI; RFC 6749 §4.1.2.1), and nothing issued.
func wantErrorPage(e *brokertest.AuthzEnv, t *testing.T, o brokertest.Outcome) {
	t.Helper()
	if o.Status != http.StatusBadRequest || o.App != nil || o.Res.Header.Get("Location") != "" ||
		!strings.Contains(o.Page, `data-testid="error"`) {
		t.Fatalf("want a 400 error page, got %d app=%v\n%s", o.Status, o.App, o.Page)
	}
	e.WantNothingIssued(t)
}

// TestASRED01_RedirectURIVariants: every variant of the registered URI is refused
// with a page, signed in or not.
func TestASRED01_RedirectURIVariants(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	variants := []string{
		"https://app.test/cb/../evil", "https://app.test/cbx", "https://app.test/cb/", "https://APP.test/cb",
		"https://app.test:8443/cb", "http://app.test/cb", "https://app.test@evil.test/cb", "https://evil.test/cb",
		"https://app.test/%2e%2e/cb", "https://app.test/cb#frag", "https://аpp.test/cb", "https://app.test/c%2562",
		"https://app.test/c", "https://app.test", "javascript:alert(1)", "http://127.0.0.1/cb", // another client's
	}
	for _, uri := range variants {
		t.Run(uri, func(t *testing.T) {
			wantErrorPage(e, t, e.Start(b, brokertest.NewAuthzReq("web", uri, "openid")))
		})
	}
	if n := len(e.Audited("oauth.rejected")); n != len(variants) {
		t.Errorf("%d refusals audited, want one for each of %d", n, len(variants))
	}
}

// TestASRED02_RedirectURIQuery: a registered query matches exactly; added or
// changed queries are refused. The response keeps the registered query.
func TestASRED02_RedirectURIQuery(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	for _, uri := range []string{"https://app.test/cb?x=1", "https://app.test/cb?a=c", "https://app.test/cb?a=b&x=1"} {
		wantErrorPage(e, t, e.Start(b, brokertest.NewAuthzReq("web", uri, "openid")))
	}
	cb := e.Code(b, brokertest.NewAuthzReq("web", "https://app.test/cb?a=b", "openid"))
	if cb.Get("a") != "b" {
		t.Errorf("registered query lost: %v", cb)
	}
}

// TestASRED03_RedirectURIMissing: an OIDC request without redirect_uri, or a
// client with several registered URIs, is refused with a page.
func TestASRED03_RedirectURIMissing(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	wantErrorPage(e, t, e.Start(b, brokertest.NewAuthzReq("web", "", "notes.read"))) // two registered URIs
	wantErrorPage(e, t, e.Start(b, brokertest.NewAuthzReq("web2", "", "openid")))    // OIDC
	// Outside OIDC, the single registered URI is used; the token request then omits it.
	q := brokertest.NewAuthzReq("web2", "", "notes.read")
	o := e.Start(b, q)
	o = e.Decide(b, o.Page, "approve")
	if o.App == nil || o.App.Host != "app2.test" {
		t.Fatalf("%v", o.App)
	}
	if st, tok := e.Redeem("web2", o.Fields.Get("code"), q.Verifier, ""); st != 200 {
		t.Fatalf("redeem without redirect_uri: %d %v", st, tok)
	}
}

// TestAuthorizeClientRefusals: unknown or missing client, repeated client_id or
// redirect_uri, an oversized redirect_uri: pages, never redirects.
func TestAuthorizeClientRefusals(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	for name, mut := range map[string]func(url.Values){
		"unknown client":      func(v url.Values) { v.Set("client_id", "nobody") },
		"no client":           func(v url.Values) { v.Del("client_id") },
		"repeated client_id":  func(v url.Values) { v.Add("client_id", "web2") },
		"repeated redirect":   func(v url.Values) { v.Add("redirect_uri", brokertest.AppCB) },
		"oversized redirect":  func(v url.Values) { v.Set("redirect_uri", brokertest.AppCB+"?"+strings.Repeat("a", 1<<20)) },
		"too many parameters": func(v url.Values) { addParams(v, 100) },
		// net/url gives up on 10 000 parameters: the request cannot be read at all.
		"10 000 resources": func(v url.Values) { v["resource"] = make([]string, 10000) },
	} {
		t.Run(name, func(t *testing.T) {
			q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid")
			mut(q.Params)
			wantErrorPage(e, t, e.Start(b, q))
		})
	}
}

func addParams(v url.Values, n int) {
	for i := range n {
		v.Set("x"+string(rune('a'+i%26))+strings.Repeat("y", i), "1")
	}
}

// TestASRED07_ResponseType: only code; implicit and hybrid are refused by
// redirect, a missing response_type is invalid_request.
func TestASRED07_ResponseType(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	for rt, code := range map[string]string{"token": "unsupported_response_type", "id_token": "unsupported_response_type",
		"code id_token": "unsupported_response_type", "": "invalid_request"} {
		q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid")
		q.Params.Set("response_type", rt)
		e.WantRedirectError(t, e.Start(b, q), q, code)
	}
	e.WantNothingIssued(t)
}

// TestASPKCE01_02_AtAuthorize: PKCE S256 is required of every client at the
// authorization endpoint: missing challenge, plain, or an omitted method (which
// means plain) → invalid_request by redirect, nothing issued. Public and
// confidential clients alike.
func TestASPKCE01_02_AtAuthorize(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	for name, mut := range map[string]func(url.Values){
		"missing":             func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") },
		"plain":               func(v url.Values) { v.Set("code_challenge_method", "plain") },
		"method omitted":      func(v url.Values) { v.Del("code_challenge_method") },
		"malformed challenge": func(v url.Values) { v.Set("code_challenge", "short") },
		"lowercase s256":      func(v url.Values) { v.Set("code_challenge_method", "s256") },
	} {
		for _, client := range []struct{ id, cb string }{{"web", brokertest.AppCB}, {"native", "http://127.0.0.1:49152/cb"}} {
			t.Run(name+"/"+client.id, func(t *testing.T) {
				q := brokertest.NewAuthzReq(client.id, client.cb, "openid")
				mut(q.Params)
				e.WantRedirectError(t, e.Start(b, q), q, "invalid_request")
			})
		}
	}
	e.WantNothingIssued(t)
}

// TestAuthorizeParameterRefusals: repeated parameters, oversized values (DOS-11),
// request objects, bad prompt and max_age, an unknown resource, scope none of
// which may be granted: errors by redirect with state and iss.
func TestAuthorizeParameterRefusals(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	cases := []struct {
		name, code string
		mut        func(url.Values)
	}{
		{"repeated scope", "invalid_request", func(v url.Values) { v.Add("scope", "openid") }},
		{"repeated nonce", "invalid_request", func(v url.Values) { v.Add("nonce", "x") }},
		{"state 1 MB", "invalid_request", func(v url.Values) { v.Set("state", strings.Repeat("s", 1<<20)) }},
		{"scope 100 000 entries", "invalid_request", func(v url.Values) { v.Set("scope", strings.Repeat("a ", 50000)) }},
		{"challenge 1 MB", "invalid_request", func(v url.Values) { v.Set("code_challenge", strings.Repeat("c", 1<<20)) }},
		{"request object", "request_not_supported", func(v url.Values) { v.Set("request", "eyJ.eyJ.") }},
		{"request_uri", "request_uri_not_supported", func(v url.Values) { v.Set("request_uri", "https://evil.test/r") }},
		{"prompt none+login", "invalid_request", func(v url.Values) { v.Set("prompt", "none login") }},
		{"prompt unknown", "invalid_request", func(v url.Values) { v.Set("prompt", "create") }},
		{"max_age negative", "invalid_request", func(v url.Values) { v.Set("max_age", "-1") }},
		{"response_mode fragment", "invalid_request", func(v url.Values) { v.Set("response_mode", "fragment") }},
		{"unknown resource", "invalid_target", func(v url.Values) { v.Set("resource", "https://evil.test") }},
		{"two resources", "invalid_target", func(v url.Values) { v["resource"] = []string{brokertest.NotesAPI, "https://other.test"} }},
		{"9 resources", "invalid_target", func(v url.Values) { v["resource"] = make([]string, 9) }},
		{"only ungrantable scope", "invalid_scope", func(v url.Values) { v.Set("scope", "admin") }},
		{"malformed scope", "invalid_scope", func(v url.Values) { v.Set("scope", "openid \"x\"") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
			c.mut(q.Params)
			o := e.Start(b, q)
			if len(q.Params.Get("state")) > 512 {
				q.Params.Set("state", "") // an oversized state is not echoed
			}
			e.WantRedirectError(t, o, q, c.code)
		})
	}
	e.WantNothingIssued(t)
	// Long but reasonable values work (fapi2 long state), and unknown parameters
	// are ignored (oidcc-ensure-request-with-unknown-parameter-succeeds), as is a
	// request without nonce (…-without-nonce-succeeds-for-code-flow).
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	q.Params.Set("state", strings.Repeat("s", 512))
	q.Params.Set("extra_param", "ignored")
	q.Params.Del("nonce")
	q.Params.Set("acr_values", "urn:x")
	q.Params.Set("ui_locales", "<b>en</b>")
	q.Params.Set("display", "page")
	if cb := e.Code(b, q); cb.Get("state") != q.Params.Get("state") {
		t.Errorf("state %q", cb.Get("state"))
	}
}

// TestASRED12_PromptNone: without a session → login_required; signed in without
// consent → consent_required; with consent → a code, silently. No page is shown
// and nothing is issued on the refusals.
func TestASRED12_PromptNone(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	q.Params.Set("prompt", "none")
	e.WantRedirectError(t, e.Start(brokertest.NewClient(e.SigninEnv), q), q, "login_required")
	b := e.SignedIn()
	e.WantRedirectError(t, e.Start(b, q), q, "consent_required")
	e.WantNothingIssued(t)
	e.Code(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read"))
	if o := e.Start(b, q); o.Fields.Get("code") == "" || o.Fields.Get("iss") != e.TS.URL {
		t.Fatalf("prompt=none with consent: %v %s", o.Fields, o.Page)
	}
}

// TestAuthorizePromptLoginAndMaxAge: not signed in → /login with login_hint, back
// after sign-in; prompt=login and an exceeded max_age each need a fresh session
// (oidcc-prompt-login, oidcc-max-age-1).
func TestAuthorizePromptLoginAndMaxAge(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := brokertest.NewClient(e.SigninEnv)
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	q.Params.Set("login_hint", "alice@oidc.example")
	res := e.Get(b, q.URL())
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || loc.Path != "/login" || loc.Query().Get("login_hint") != "alice@oidc.example" ||
		!strings.HasPrefix(loc.Query().Get("return_to"), "/oauth2/authorize/resume?") {
		t.Fatalf("not sent to login: %d %s", res.StatusCode, loc)
	}
	e.Code(b, q) // signs in via login_hint, consents
	if n := e.Sessions(); n != 1 {
		t.Fatalf("%d sessions", n)
	}
	forced := func(set func(url.Values)) {
		t.Helper()
		q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
		q.Params.Set("login_hint", "alice@oidc.example")
		set(q.Params)
		before := e.Sessions()
		res := e.Get(b, q.URL())
		if loc, _ := url.Parse(res.Header.Get("Location")); loc == nil || loc.Path != "/login" {
			t.Fatalf("no fresh sign-in asked: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		if cb := e.Code(b, q); cb.Get("code") == "" || e.Sessions() != before+1 {
			t.Fatalf("after fresh sign-in: %v, sessions %d", cb, e.Sessions())
		}
	}
	forced(func(v url.Values) { v.Set("prompt", "login") })
	e.Clk.Add(10 * time.Second)
	forced(func(v url.Values) { v.Set("max_age", "5") })
	// A recent enough sign-in satisfies max_age.
	q = brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	q.Params.Set("max_age", "3600")
	if o := e.Start(b, q); o.Fields.Get("code") == "" {
		t.Fatalf("max_age=3600: %s", o.Page)
	}
}

// TestASCODE_BoundAtAuthorize: a code issued through the browser is bound to its
// client and redirect URI (AS-CODE-03), to its PKCE challenge (AS-PKCE-04) and
// expires after AuthCodeTTL (AS-CODE-05).
func TestASCODE_BoundAtAuthorize(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	e.Code(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid")) // consent
	issue := func() (brokertest.AuthzReq, string) {
		q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid")
		return q, e.Code(b, q).Get("code")
	}
	q, code := issue()
	if st, out := e.Redeem("web2", code, q.Verifier, brokertest.AppCB); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("other client: %d %v", st, out)
	}
	q, code = issue()
	if st, out := e.Redeem("web", code, q.Verifier, "https://app.test/cb?a=b"); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("other redirect: %d %v", st, out)
	}
	_, code = issue()
	if st, out := e.Redeem("web", code, brokertest.NewAuthzReq("web", brokertest.AppCB, "").Verifier, brokertest.AppCB); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("wrong verifier: %d %v", st, out)
	}
	q, code = issue()
	e.Clk.Add(61 * time.Second)
	if st, out := e.Redeem("web", code, q.Verifier, brokertest.AppCB); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("expired: %d %v", st, out)
	}
	if n := e.Count("refresh_tokens"); n != 0 {
		t.Errorf("%d refresh tokens issued", n)
	}
}

// flipChar changes the base64url character at i to another one, so the decoded
// bytes differ (writing a fixed letter left the value unchanged when it was that
// letter already, one run in 64).
func flipChar(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// TestWEB01_ConsentCSRF: a consent decision without the CSRF token, with another
// browser's token or sealed request, or sent cross-site → 403, no code, no consent.
func TestWEB01_ConsentCSRF(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	victim, attacker := e.SignedIn(), e.SignedIn()
	page := e.Start(victim, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")).Page
	vf := brokertest.FormFields(t, page, "/oauth2/consent")
	af := brokertest.FormFields(t, e.Start(attacker, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")).Page, "/oauth2/consent")
	post := func(f url.Values, hdr map[string]string) int {
		f.Set("decision", "approve")
		req, _ := http.NewRequest(http.MethodPost, e.TS.URL+"/oauth2/consent", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := victim.Do(req)
		brokertest.Must(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	with := func(f url.Values, k, v string) url.Values {
		g := url.Values{}
		for kk, vv := range f {
			g[kk] = vv
		}
		if v == "" {
			g.Del(k)
		} else {
			g.Set(k, v)
		}
		return g
	}
	same := map[string]string{"Origin": e.TS.URL}
	for name, c := range map[string]struct {
		f   url.Values
		hdr map[string]string
	}{
		"no token":                {with(vf, "csrf_token", ""), same},
		"other browser's token":   {with(vf, "csrf_token", af.Get("csrf_token")), same},
		"other session's request": {with(vf, "request", af.Get("request")), same},
		"cross-site fetch":        {vf, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		"foreign origin":          {vf, map[string]string{"Origin": "https://evil.test"}},
		"tampered request":        {with(vf, "request", flipChar(vf.Get("request"), 40)), same},
	} {
		t.Run(name, func(t *testing.T) {
			if st := post(c.f, c.hdr); st != http.StatusForbidden && st != http.StatusBadRequest {
				t.Fatalf("status %d", st)
			}
			e.WantNothingIssued(t)
		})
	}
	// The genuine decision still works, once.
	if st := post(vf, same); st != http.StatusSeeOther {
		t.Fatalf("genuine: %d", st)
	}
	if st := post(vf, same); st == http.StatusSeeOther {
		t.Fatal("consent decision replayed")
	}
	if n := e.Count("auth_codes"); n != 1 {
		t.Fatalf("%d codes", n)
	}
}

// TestWEB17_ClientLogoScheme: a logo_uri that is not https (javascript:, data:,
// mixed case) is not rendered on the consent page.
func TestWEB17_ClientLogoScheme(t *testing.T) {
	t.Parallel()
	for _, logo := range []string{"javascript:alert(1)", " jAvAsCrIpT:alert(1)", "data:text/html,<script>alert(1)</script>", "http://app.test/l.png"} {
		e := brokertest.NewAuthzEnv(t, func(c *store.Client) {
			if c.ID == "web" {
				c.LogoURI = logo
			}
		})
		page := e.Start(e.SignedIn(), brokertest.NewAuthzReq("web", brokertest.AppCB, "openid")).Page
		if !strings.Contains(page, `data-testid="consent"`) || strings.Contains(page, `consent-logo`) ||
			strings.Contains(strings.ToLower(page), "javascript:") || strings.Contains(page, "data:text") {
			t.Errorf("logo %q rendered:\n%s", logo, page)
		}
	}
}

// TestWEB19_ReflectedParams: parameters a request reflects into pages are escaped.
func TestWEB19_ReflectedParams(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t, func(c *store.Client) {
		if c.ID == "web" {
			c.Name = `<script>alert("name")</script>`
		}
	})
	b := brokertest.NewClient(e.SigninEnv)
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid")
	q.Params.Set("login_hint", `"><script>alert(1)</script>@nowhere.example`)
	o := e.Start(b, q)
	if strings.Contains(o.Page, "<script>alert") {
		t.Fatalf("login_hint reflected:\n%s", o.Page)
	}
	b = e.SignedIn()
	o = e.Start(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid"))
	if !strings.Contains(o.Page, `data-testid="consent"`) || strings.Contains(o.Page, `<script>alert("name")`) {
		t.Fatalf("client name unescaped:\n%s", o.Page)
	}
}

// TestAuthorizeResumeTampered: a resume link that was changed, or that is older
// than web.FlowTTL, is refused with a page.
func TestAuthorizeResumeTampered(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := brokertest.NewClient(e.SigninEnv)
	res := e.Get(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid").URL())
	loc, _ := url.Parse(res.Header.Get("Location"))
	resume := loc.Query().Get("return_to")
	r := strings.Replace(resume, "r=", "r=A", 1)
	if res := e.Get(b, r); res.StatusCode != http.StatusBadRequest {
		t.Errorf("tampered: %d", res.StatusCode)
	}
	e.SignedIn()
	e.Clk.Add(11 * time.Minute)
	if res := e.Get(b, resume); res.StatusCode != http.StatusBadRequest {
		t.Errorf("expired: %d", res.StatusCode)
	}
	_ = context.Background()
}

// TestASRED01_LoopbackAnyPortOnlyForPublicClients: RFC 8252 §7.3 lets a native
// (public) client's loopback redirect URI match on any port; a confidential
// client's registered loopback URI matches exactly, port included — another port,
// or none, is an error page with nothing issued.
func TestASRED01_LoopbackAnyPortOnlyForPublicClients(t *testing.T) {
	t.Parallel()
	const registered = "http://127.0.0.1:8080/cb"
	e := brokertest.NewAuthzEnv(t, func(c *store.Client) {
		if c.ID == "web2" {
			c.RedirectURIs = []string{registered}
		}
	})
	b := e.SignedIn()
	for _, uri := range []string{"http://127.0.0.1:51234/cb", "http://127.0.0.1/cb", "http://127.0.0.1:80/cb", "http://[::1]:8080/cb"} {
		t.Run("confidential "+uri, func(t *testing.T) {
			wantErrorPage(e, t, e.Start(b, brokertest.NewAuthzReq("web2", uri, "openid")))
		})
	}
	if cb := e.Code(b, brokertest.NewAuthzReq("web2", registered, "openid")); cb.Get("code") == "" {
		t.Fatal("confidential client: no code at its registered loopback URI")
	}
	for _, uri := range []string{"http://127.0.0.1:51234/cb", "http://127.0.0.1:1/cb", "http://127.0.0.1/cb"} {
		o := e.Start(b, brokertest.NewAuthzReq("native", uri, "openid"))
		if o.App == nil && strings.Contains(o.Page, `data-testid="consent"`) {
			o = e.Decide(b, o.Page, "approve")
		}
		if o.App == nil || o.Fields.Get("code") == "" || o.App.Host != strings.TrimPrefix(strings.TrimSuffix(uri, "/cb"), "http://") {
			t.Errorf("native %s: %d %v", uri, o.Status, o.App)
		}
	}
}
