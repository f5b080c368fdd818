package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestAuthorizeGoRelyingParty: golang.org/x/oauth2 + go-oidc as the application,
// a cookie-jar browser submitting Gatehouse's real forms: discovery →
// authorization (sign-in via login_hint at the real OIDC issuer, consent) → code
// with state and iss → token → ID token verified by go-oidc → UserInfo. Scopes are
// requested ∩ client-allowed ∩ entitled (alice is staff, not admin). The consent
// is remembered; a new scope is asked for alone.
func TestAuthorizeGoRelyingParty(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	ctx := oidc.ClientContext(context.Background(), e.ts.Client())
	provider, err := oidc.NewProvider(ctx, e.ts.URL)
	must(t, err)
	conf := oauth2.Config{ClientID: "web", ClientSecret: e.secrets["web"], Endpoint: provider.Endpoint(), RedirectURL: appCB,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", "notes.read", "notes.write", "admin"}}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-1"),
		oauth2.SetAuthURLParam("login_hint", "alice@oidc.example"))
	browser := newClient(e.signinEnv)

	o := e.drive(browser, e.get(browser, authURL))
	if !strings.Contains(o.page, `data-testid="consent"`) {
		t.Fatalf("want the consent page, got %d\n%s", o.status, o.page)
	}
	for _, want := range []string{"Web App", "Notes API", "Read your notes", "Change your notes", "https://app.test/logo.png", "Alice"} {
		if !strings.Contains(o.page, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(o.page, `consent-scope-admin`) {
		t.Error("consent page offers admin, which alice is not entitled to")
	}
	if fa := o.res.Header.Get("Content-Security-Policy"); !strings.Contains(fa, "form-action 'self' https://app.test") ||
		!strings.Contains(fa, "frame-ancestors 'none'") {
		t.Errorf("consent CSP %q", fa)
	}
	o = e.decide(browser, o.page, "approve")
	if o.status != http.StatusSeeOther || o.app.Host != "app.test" || o.fields.Get("state") != "state-1" || o.fields.Get("iss") != e.ts.URL {
		t.Fatalf("callback %d %v", o.status, o.app)
	}
	tok, err := conf.Exchange(oidc.ClientContext(ctx, e.ts.Client()), o.fields.Get("code"), oauth2.VerifierOption(verifier))
	must(t, err)
	if got := tok.Extra("scope"); got != "openid profile email notes.read notes.write" {
		t.Errorf("scope %q", got)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: "web", SupportedSigningAlgs: []string{"RS256"}}).Verify(ctx, raw)
	must(t, err)
	must(t, idt.VerifyAccessToken(tok.AccessToken))
	var idc struct {
		AuthTime int64  `json:"auth_time"`
		AZP      string `json:"azp"`
		SID      string `json:"sid"`
	}
	must(t, idt.Claims(&idc))
	if idt.Nonce != "nonce-1" || idc.AuthTime == 0 || idc.AZP != "web" || idc.SID == "" {
		t.Errorf("id token %+v %+v", idt, idc)
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	must(t, err)
	var uc map[string]any
	must(t, ui.Claims(&uc))
	// email_verified is the upstream's word (OIDC Core §5.1), whether or not the
	// provider is trusted for email linking (it is not here).
	if ui.Subject != idt.Subject || uc["name"] != "Alice" || ui.Email != "alice@oidc.example" || uc["email_verified"] != true {
		t.Errorf("userinfo %v", uc)
	}

	// Remembered: the same request again goes straight back with a code.
	again := newAuthzReq("web", appCB, "openid notes.read")
	if o := e.start(browser, again); o.app == nil || o.fields.Get("code") == "" {
		t.Fatalf("remembered consent asked again: %d\n%s", o.status, o.page)
	}
	// A first-party client never asks.
	if o := e.start(browser, newAuthzReq("first", "https://first.test/cb", "openid notes.read")); o.fields.Get("code") == "" {
		t.Fatalf("first-party client asked for consent: %s", o.page)
	}
	if n := e.count("consents"); n != 1 {
		t.Errorf("%d consents, want 1 (web)", n)
	}
}

// TestAuthorizeConsentOnlyNewScopes: a consent for notes.read is not asked again;
// adding notes.write shows notes.write as the only new scope.
func TestAuthorizeConsentOnlyNewScopes(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	b := e.signedIn()
	e.code(b, newAuthzReq("web", appCB, "openid notes.read"))
	o := e.start(b, newAuthzReq("web", appCB, "openid notes.read notes.write"))
	if !strings.Contains(o.page, `data-testid="consent-scope-notes.write" data-new="true"`) ||
		!strings.Contains(o.page, `data-testid="consent-scope-notes.read" data-new="false"`) {
		t.Fatalf("consent page:\n%s", o.page)
	}
	o = e.decide(b, o.page, "approve")
	c, err := e.db.Consents().Get(context.Background(), aliceID(t, e), "web")
	must(t, err)
	if o.fields.Get("code") == "" || !slices.Equal(c.Scopes, []string{"openid", "notes.read", "notes.write"}) {
		t.Fatalf("consent %v, callback %v", c.Scopes, o.fields)
	}
	// prompt=consent asks again even so.
	q := newAuthzReq("web", appCB, "openid notes.read")
	q.params.Set("prompt", "consent")
	if o := e.start(b, q); !strings.Contains(o.page, `data-testid="consent"`) {
		t.Fatal("prompt=consent did not ask")
	}
}

func aliceID(t *testing.T, e *authzEnv) string {
	t.Helper()
	id, err := e.db.Identities().Get(context.Background(), "corp", "alice-sub")
	must(t, err)
	return id.UserID
}

// TestAuthorizeDeny: deny → access_denied with state and iss; nothing stored.
func TestAuthorizeDeny(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	b := e.signedIn()
	q := newAuthzReq("web", appCB, "openid notes.read")
	o := e.decide(b, e.start(b, q).page, "deny")
	e.wantRedirectError(t, o, q, "access_denied")
	e.wantNothingIssued(t)
	if len(e.audited("consent.denied")) != 1 {
		t.Error("no audit line")
	}
}

// TestAuthorizeFormPost: response_mode=form_post answers with a page whose form
// posts code, state and iss to the redirect URI (a tiny external script submits
// it; the button works without), and whose CSP lets the form reach that origin
// only.
func TestAuthorizeFormPost(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	b := e.signedIn()
	q := newAuthzReq("web", appCB, "openid notes.read")
	q.params.Set("response_mode", "form_post")
	q.params.Set("state", `"><script>window.__xss=1</script>`) // WEB-19
	o := e.start(b, q)
	o = e.decide(b, o.page, "approve")
	if o.status != 200 || o.app == nil || o.app.String() != appCB || o.fields.Get("code") == "" ||
		o.fields.Get("iss") != e.ts.URL || o.fields.Get("state") != q.params.Get("state") {
		t.Fatalf("form_post: %d %v %v\n%s", o.status, o.app, o.fields, o.page)
	}
	if strings.Contains(o.page, "<script>window.__xss") || !strings.Contains(o.page, `data-testid="autopost-continue"`) {
		t.Error("state reflected unescaped, or no button")
	}
	csp := o.res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action 'self' https://app.test;") && !strings.HasSuffix(csp, "form-action 'self' https://app.test") {
		t.Errorf("CSP %q", csp)
	}
	if o.res.Header.Get("Cache-Control") != "no-store" {
		t.Error("form_post page may be cached")
	}
}

// TestAuthorizePost: the endpoint accepts POST (oidcc-ensure-post-request-succeeds).
func TestAuthorizePost(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	b := e.signedIn()
	e.code(b, newAuthzReq("web", appCB, "openid notes.read")) // consent
	q := newAuthzReq("web", appCB, "openid notes.read")
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/authorize", strings.NewReader(q.params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://app.test") // cross-site, as an application's auto-POST is
	res, err := b.Do(req)
	must(t, err)
	if o := e.drive(b, res); o.fields.Get("code") == "" {
		t.Fatalf("POST authorize: %d %s", o.status, o.page)
	}
}

// TestAuthorizeTokenRoundTrip: the code redeems once for the tokens; the token
// response reports the granted scope; a second redemption fails (AS-CODE-01).
func TestAuthorizeTokenRoundTrip(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	b := e.signedIn()
	q := newAuthzReq("web", appCB, "openid email notes.read admin")
	cb := e.code(b, q)
	st, tok := e.redeem("web", cb.Get("code"), q.verifier, appCB)
	if st != 200 || tok["scope"] != "openid email notes.read" || tok["refresh_token"] == nil || tok["id_token"] == nil {
		t.Fatalf("token: %d %v\n%s", st, tok, e.logs)
	}
	if st, out := e.redeem("web", cb.Get("code"), q.verifier, appCB); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", st, out)
	}
}

// TestAuthorizeDiscovery: the browser endpoints are advertised exactly as they work.
func TestAuthorizeDiscovery(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	res := e.get(newClient(e.signinEnv), "/.well-known/openid-configuration")
	var d map[string]any
	must(t, json.NewDecoder(res.Body).Decode(&d))
	res.Body.Close()
	want := map[string]any{
		"authorization_endpoint": e.ts.URL + "/oauth2/authorize", "userinfo_endpoint": e.ts.URL + "/oauth2/userinfo",
		"end_session_endpoint": e.ts.URL + "/oauth2/logout", "authorization_response_iss_parameter_supported": true,
		"response_types_supported": []any{"code"}, "response_modes_supported": []any{"query", "form_post"},
		"code_challenge_methods_supported": []any{"S256"}, "request_parameter_supported": false,
		"prompt_values_supported": []any{"none", "login", "consent", "select_account"},
		"scopes_supported":        []any{"openid", "profile", "email", "offline_access", "admin", "notes.read", "notes.write"},
	}
	for k, v := range want {
		got, _ := json.Marshal(d[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("%s = %s, want %s", k, got, exp)
		}
	}
}

// TestAuthorizeConnectedApps: the account page lists the app with its scopes and
// last use; Revoke deletes the consent and revokes the app's refresh tokens.
func TestAuthorizeConnectedApps(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	b := e.signedIn()
	q := newAuthzReq("web", appCB, "openid notes.read")
	cb := e.code(b, q)
	_, tok := e.redeem("web", cb.Get("code"), q.verifier, appCB)
	_, page := e.follow(b, e.get(b, "/account"))
	if !strings.Contains(page, `data-testid="app-web"`) || !strings.Contains(page, "openid notes.read") || !strings.Contains(page, "Web App") {
		t.Fatalf("account page:\n%s", page)
	}
	f := formFields(t, page, "/account/apps/revoke")
	f.Set("client", "web")
	res := e.postForm(b, "/account/apps/revoke", f)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	e.clk.Add(time.Second)
	if n := e.count("consents"); n != 0 {
		t.Errorf("%d consents left", n)
	}
	st, out := e.refresh("web", tok["refresh_token"].(string))
	if st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("refresh after revoke: %d %v", st, out)
	}
	// Consent is asked again.
	if o := e.start(b, newAuthzReq("web", appCB, "openid notes.read")); !strings.Contains(o.page, `data-testid="consent"`) {
		t.Error("no consent asked after revocation")
	}
}

// TestConnectedAppLastUsedOnRefresh: using a refresh token counts as using the
// connected app, written at most once a minute per consent.
func TestConnectedAppLastUsedOnRefresh(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	b := e.signedIn()
	q := newAuthzReq("web", appCB, "openid notes.read offline_access")
	cb := e.code(b, q)
	_, tok := e.redeem("web", cb.Get("code"), q.verifier, appCB)
	user := aliceID(t, e)
	lastUsed := func() time.Time {
		t.Helper()
		c, err := e.db.Consents().Get(context.Background(), user, "web")
		must(t, err)
		return c.LastUsedAt
	}
	issued := lastUsed()
	rt := tok["refresh_token"].(string)
	refresh := func() {
		t.Helper()
		st, out := e.refresh("web", rt)
		if st != 200 {
			t.Fatalf("refresh: %d %v", st, out)
		}
		rt = out["refresh_token"].(string)
	}
	e.clk.Add(5 * time.Minute)
	refresh()
	if got := lastUsed(); !got.Equal(e.clk.Now()) {
		t.Fatalf("last used %s after refresh at %s (issued %s)", got, e.clk.Now(), issued)
	}
	touched := e.clk.Now()
	e.clk.Add(30 * time.Second)
	refresh()
	if got := lastUsed(); !got.Equal(touched) {
		t.Errorf("written again within the minute: %s", got)
	}
	e.clk.Add(31 * time.Second)
	refresh()
	if got := lastUsed(); !got.Equal(e.clk.Now()) {
		t.Errorf("not written after a minute: %s, want %s", got, e.clk.Now())
	}
}
