package oauth_test

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

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestAuthorizeGoRelyingParty: golang.org/x/oauth2 + go-oidc as the application,
// a cookie-jar browser submitting Gatehouse's real forms: discovery →
// authorization (sign-in via login_hint at the real OIDC issuer, consent) → code
// with state and iss → token → ID token verified by go-oidc → UserInfo. Scopes are
// requested ∩ client-allowed ∩ entitled (alice is staff, not admin). The consent
// is remembered; a new scope is asked for alone.
func TestAuthorizeGoRelyingParty(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	ctx := oidc.ClientContext(context.Background(), e.TS.Client())
	provider, err := oidc.NewProvider(ctx, e.TS.URL)
	brokertest.Must(t, err)
	conf := oauth2.Config{ClientID: "web", ClientSecret: e.Secrets["web"], Endpoint: provider.Endpoint(), RedirectURL: brokertest.AppCB,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", "notes.read", "notes.write", "admin"}}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-1"),
		oauth2.SetAuthURLParam("login_hint", "alice@oidc.example"))
	browser := brokertest.NewClient(e.SigninEnv)

	o := e.Drive(browser, e.Get(browser, authURL))
	if !strings.Contains(o.Page, `data-testid="consent"`) {
		t.Fatalf("want the consent page, got %d\n%s", o.Status, o.Page)
	}
	for _, want := range []string{"Web App", "Notes API", "Read your notes", "Change your notes", "https://app.test/logo.png", "Alice"} {
		if !strings.Contains(o.Page, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(o.Page, `consent-scope-admin`) {
		t.Error("consent page offers admin, which alice is not entitled to")
	}
	if fa := o.Res.Header.Get("Content-Security-Policy"); !strings.Contains(fa, "form-action 'self' https://app.test") ||
		!strings.Contains(fa, "frame-ancestors 'none'") {
		t.Errorf("consent CSP %q", fa)
	}
	o = e.Decide(browser, o.Page, "approve")
	if o.Status != http.StatusSeeOther || o.App.Host != "app.test" || o.Fields.Get("state") != "state-1" || o.Fields.Get("iss") != e.TS.URL {
		t.Fatalf("callback %d %v", o.Status, o.App)
	}
	tok, err := conf.Exchange(oidc.ClientContext(ctx, e.TS.Client()), o.Fields.Get("code"), oauth2.VerifierOption(verifier))
	brokertest.Must(t, err)
	if got := tok.Extra("scope"); got != "openid profile email notes.read notes.write" {
		t.Errorf("scope %q", got)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: "web", SupportedSigningAlgs: []string{"RS256"}}).Verify(ctx, raw)
	brokertest.Must(t, err)
	brokertest.Must(t, idt.VerifyAccessToken(tok.AccessToken))
	var idc struct {
		AuthTime int64  `json:"auth_time"`
		AZP      string `json:"azp"`
		SID      string `json:"sid"`
	}
	brokertest.Must(t, idt.Claims(&idc))
	if idt.Nonce != "nonce-1" || idc.AuthTime == 0 || idc.AZP != "web" || idc.SID == "" {
		t.Errorf("id token %+v %+v", idt, idc)
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	brokertest.Must(t, err)
	var uc map[string]any
	brokertest.Must(t, ui.Claims(&uc))
	// email_verified is the upstream's word (OIDC Core §5.1), whether or not the
	// provider is trusted for email linking (it is not here).
	if ui.Subject != idt.Subject || uc["name"] != "Alice" || ui.Email != "alice@oidc.example" || uc["email_verified"] != true {
		t.Errorf("userinfo %v", uc)
	}

	// Remembered: the same request again goes straight back with a code.
	again := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	if o := e.Start(browser, again); o.App == nil || o.Fields.Get("code") == "" {
		t.Fatalf("remembered consent asked again: %d\n%s", o.Status, o.Page)
	}
	// A first-party client never asks.
	if o := e.Start(browser, brokertest.NewAuthzReq("first", "https://first.test/cb", "openid notes.read")); o.Fields.Get("code") == "" {
		t.Fatalf("first-party client asked for consent: %s", o.Page)
	}
	if n := e.Count("consents"); n != 1 {
		t.Errorf("%d consents, want 1 (web)", n)
	}
}

// TestAuthorizeConsentOnlyNewScopes: a consent for notes.read is not asked again;
// adding notes.write shows notes.write as the only new scope.
func TestAuthorizeConsentOnlyNewScopes(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	e.Code(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read"))
	o := e.Start(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read notes.write"))
	if !strings.Contains(o.Page, `data-testid="consent-scope-notes.write" data-new="true"`) ||
		!strings.Contains(o.Page, `data-testid="consent-scope-notes.read" data-new="false"`) {
		t.Fatalf("consent page:\n%s", o.Page)
	}
	o = e.Decide(b, o.Page, "approve")
	c, err := e.DB.Consents().Get(context.Background(), aliceID(t, e), "web")
	brokertest.Must(t, err)
	if o.Fields.Get("code") == "" || !slices.Equal(c.Scopes, []string{"openid", "notes.read", "notes.write"}) {
		t.Fatalf("consent %v, callback %v", c.Scopes, o.Fields)
	}
	// prompt=consent asks again even so.
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	q.Params.Set("prompt", "consent")
	if o := e.Start(b, q); !strings.Contains(o.Page, `data-testid="consent"`) {
		t.Fatal("prompt=consent did not ask")
	}
}

func aliceID(t *testing.T, e *brokertest.AuthzEnv) string {
	t.Helper()
	id, err := e.DB.Identities().Get(context.Background(), "corp", "alice-sub")
	brokertest.Must(t, err)
	return id.UserID
}

// TestAuthorizeDeny: deny → access_denied with state and iss; nothing stored.
func TestAuthorizeDeny(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	o := e.Decide(b, e.Start(b, q).Page, "deny")
	e.WantRedirectError(t, o, q, "access_denied")
	e.WantNothingIssued(t)
	if len(e.Audited("consent.denied")) != 1 {
		t.Error("no audit line")
	}
}

// TestAuthorizeFormPost: response_mode=form_post answers with a page whose form
// posts code, state and iss to the redirect URI (a tiny external script submits
// it; the button works without), and whose CSP lets the form reach that origin
// only.
func TestAuthorizeFormPost(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	q.Params.Set("response_mode", "form_post")
	q.Params.Set("state", `"><script>window.__xss=1</script>`) // WEB-19
	o := e.Start(b, q)
	o = e.Decide(b, o.Page, "approve")
	if o.Status != 200 || o.App == nil || o.App.String() != brokertest.AppCB || o.Fields.Get("code") == "" ||
		o.Fields.Get("iss") != e.TS.URL || o.Fields.Get("state") != q.Params.Get("state") {
		t.Fatalf("form_post: %d %v %v\n%s", o.Status, o.App, o.Fields, o.Page)
	}
	if strings.Contains(o.Page, "<script>window.__xss") || !strings.Contains(o.Page, `data-testid="autopost-continue"`) {
		t.Error("state reflected unescaped, or no button")
	}
	csp := o.Res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action 'self' https://app.test;") && !strings.HasSuffix(csp, "form-action 'self' https://app.test") {
		t.Errorf("CSP %q", csp)
	}
	if o.Res.Header.Get("Cache-Control") != "no-store" {
		t.Error("form_post page may be cached")
	}
}

// TestAuthorizePost: the endpoint accepts POST (oidcc-ensure-post-request-succeeds).
func TestAuthorizePost(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	e.Code(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")) // consent
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	req, _ := http.NewRequest(http.MethodPost, e.TS.URL+"/oauth2/authorize", strings.NewReader(q.Params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://app.test") // cross-site, as an application's auto-POST is
	res, err := b.Do(req)
	brokertest.Must(t, err)
	if o := e.Drive(b, res); o.Fields.Get("code") == "" {
		t.Fatalf("POST authorize: %d %s", o.Status, o.Page)
	}
}

// TestAuthorizeTokenRoundTrip: the code redeems once for the tokens; the token
// response reports the granted scope; a second redemption fails (AS-CODE-01).
func TestAuthorizeTokenRoundTrip(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid email notes.read admin")
	cb := e.Code(b, q)
	st, tok := e.Redeem("web", cb.Get("code"), q.Verifier, brokertest.AppCB)
	if st != 200 || tok["scope"] != "openid email notes.read" || tok["refresh_token"] == nil || tok["id_token"] == nil {
		t.Fatalf("token: %d %v\n%s", st, tok, e.Logs)
	}
	if st, out := e.Redeem("web", cb.Get("code"), q.Verifier, brokertest.AppCB); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", st, out)
	}
}

// TestAuthorizeDiscovery: the browser endpoints are advertised exactly as they work.
func TestAuthorizeDiscovery(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	res := e.Get(brokertest.NewClient(e.SigninEnv), "/.well-known/openid-configuration")
	var d map[string]any
	brokertest.Must(t, json.NewDecoder(res.Body).Decode(&d))
	res.Body.Close()
	want := map[string]any{
		"authorization_endpoint": e.TS.URL + "/oauth2/authorize", "userinfo_endpoint": e.TS.URL + "/oauth2/userinfo",
		"end_session_endpoint": e.TS.URL + "/oauth2/logout", "authorization_response_iss_parameter_supported": true,
		"response_types_supported": []any{"code"}, "response_modes_supported": []any{"query", "form_post"},
		"code_challenge_methods_supported": []any{"S256"}, "request_parameter_supported": false,
		"prompt_values_supported": []any{"none", "login", "consent", "select_account"},
		// gatehouse:admin is the built-in Admin API's (broker/admin).
		"scopes_supported": []any{"openid", "profile", "email", "offline_access", "admin", "gatehouse:admin", "notes.read", "notes.write"},
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
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	cb := e.Code(b, q)
	_, tok := e.Redeem("web", cb.Get("code"), q.Verifier, brokertest.AppCB)
	_, page := e.Follow(b, e.Get(b, "/account"))
	if !strings.Contains(page, `data-testid="app-web"`) || !strings.Contains(page, "openid notes.read") || !strings.Contains(page, "Web App") {
		t.Fatalf("account page:\n%s", page)
	}
	// Revoke asks first: its confirmation page holds the form.
	_, page = e.Follow(b, e.Get(b, "/account/apps/revoke?client=web"))
	f := brokertest.FormFields(t, page, "/account/apps/revoke")
	res := e.PostForm(b, "/account/apps/revoke", f)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	e.Clk.Add(time.Second)
	if n := e.Count("consents"); n != 0 {
		t.Errorf("%d consents left", n)
	}
	st, out := e.Refresh("web", tok["refresh_token"].(string))
	if st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("refresh after revoke: %d %v", st, out)
	}
	// Consent is asked again.
	if o := e.Start(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")); !strings.Contains(o.Page, `data-testid="consent"`) {
		t.Error("no consent asked after revocation")
	}
}

// TestConnectedAppLastUsedOnRefresh: using a refresh token counts as using the
// connected app, written at most once a minute per consent.
func TestConnectedAppLastUsedOnRefresh(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read offline_access")
	cb := e.Code(b, q)
	_, tok := e.Redeem("web", cb.Get("code"), q.Verifier, brokertest.AppCB)
	user := aliceID(t, e)
	lastUsed := func() time.Time {
		t.Helper()
		c, err := e.DB.Consents().Get(context.Background(), user, "web")
		brokertest.Must(t, err)
		return c.LastUsedAt
	}
	issued := lastUsed()
	rt := tok["refresh_token"].(string)
	refresh := func() {
		t.Helper()
		st, out := e.Refresh("web", rt)
		if st != 200 {
			t.Fatalf("refresh: %d %v", st, out)
		}
		rt = out["refresh_token"].(string)
	}
	e.Clk.Add(5 * time.Minute)
	refresh()
	if got := lastUsed(); !got.Equal(e.Clk.Now()) {
		t.Fatalf("last used %s after refresh at %s (issued %s)", got, e.Clk.Now(), issued)
	}
	touched := e.Clk.Now()
	e.Clk.Add(30 * time.Second)
	refresh()
	if got := lastUsed(); !got.Equal(touched) {
		t.Errorf("written again within the minute: %s", got)
	}
	e.Clk.Add(31 * time.Second)
	refresh()
	if got := lastUsed(); !got.Equal(e.Clk.Now()) {
		t.Errorf("not written after a minute: %s, want %s", got, e.Clk.Now())
	}
}
