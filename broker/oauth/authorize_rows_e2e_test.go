package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestASRED09_IssOnEveryResponse: success, error and form_post responses all carry
// iss, and discovery says so (RFC 9207 §2, §3).
func TestASRED09_IssOnEveryResponse(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	if got := e.Code(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid")).Get("iss"); got != e.TS.URL {
		t.Errorf("success response iss = %q", got)
	}
	q := brokertest.NewAuthzReq("web2", "https://app2.test/cb", "openid")
	o := e.Start(b, q)
	e.WantRedirectError(t, e.Decide(b, o.Page, "deny"), q, "access_denied")
	q = brokertest.NewAuthzReq("web", brokertest.AppCB, "openid")
	q.Params.Set("response_mode", "form_post")
	if o := e.Start(b, q); o.Fields.Get("iss") != e.TS.URL || o.Fields.Get("code") == "" {
		t.Errorf("form_post fields %v", o.Fields)
	}
	res := e.Get(brokertest.NewClient(e.SigninEnv), "/.well-known/openid-configuration")
	page := brokertest.Body(t, res)
	if !strings.Contains(page, `"authorization_response_iss_parameter_supported":true`) {
		t.Errorf("discovery does not advertise iss: %s", page)
	}
}

// TestASRED10_SeeOtherAfterPost: the consent and login POSTs answer 303 (or 302),
// never 307, which would make the browser re-POST the form to the client.
func TestASRED10_SeeOtherAfterPost(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	c := brokertest.NewClient(e.SigninEnv)
	page := brokertest.Body(t, e.Get(c, "/login"))
	res := e.PostForm(c, "/login", withField(brokertest.FormFields(t, page, "/login"), "email", "alice@oidc.example"))
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusFound {
		t.Errorf("POST /login: %d", res.StatusCode)
	}
	b := e.SignedIn()
	o := e.Start(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid"))
	f := brokertest.FormFields(t, o.Page, "/oauth2/consent")
	f.Set("decision", "approve")
	res = e.PostForm(b, "/oauth2/consent", f)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusFound {
		t.Errorf("POST /oauth2/consent: %d", res.StatusCode)
	}
}

// TestASRED11_NoReferrerLeaks: pages that may carry codes or state in their URL send
// Referrer-Policy: no-referrer, and load scripts and styles from Gatehouse only.
func TestASRED11_NoReferrerLeaks(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	consent := e.Get(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid profile").URL())
	for consent.StatusCode/100 == 3 {
		consent.Body.Close()
		consent = e.Get(b, consent.Header.Get("Location"))
	}
	pages := map[string]*http.Response{
		"login":   e.Get(brokertest.NewClient(e.SigninEnv), "/login"),
		"account": e.Get(b, "/account"),
		"consent": consent,
	}
	external := regexp.MustCompile(`<(script|link)[^>]+(src|href)="(https?:)?//`)
	for name, res := range pages {
		page := brokertest.Body(t, res)
		if res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", name, res.Header.Get("Referrer-Policy"))
		}
		if m := external.FindString(page); m != "" {
			t.Errorf("%s loads a third-party resource: %s", name, m)
		}
	}
}

func newFailingAuthzEnv(t *testing.T) (*brokertest.AuthzEnv, *brokertest.FailingStore) {
	var fs *brokertest.FailingStore
	e := brokertest.NewAuthzEnvWith(t, brokertest.Options{WrapStore: func(s store.Store) store.Store {
		fs = &brokertest.FailingStore{Store: s}
		return fs
	}})
	return e, fs
}

// TestDATA05_CrashBetweenConsentAndCode: the consent is stored, then issuing the code
// fails. No code exists; a fresh authorization completes without asking again and
// gets exactly the consented scopes.
func TestDATA05_CrashBetweenConsentAndCode(t *testing.T) {
	t.Parallel()
	e, fs := newFailingAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	o := e.Start(b, q)
	fs.FailCodes.Store(true)
	if o = e.Decide(b, o.Page, "approve"); o.App != nil && o.Fields.Get("code") != "" {
		t.Fatalf("a code was issued although storing it failed: %v", o.Fields)
	}
	if n := e.Count("auth_codes"); n != 0 {
		t.Fatalf("%d codes stored", n)
	}
	fs.FailCodes.Store(false)
	q = brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	o = e.Start(b, q)
	if o.App == nil {
		if strings.Contains(o.Page, `data-testid="consent"`) {
			// No consent survived: asking again is the other correct brokertest.Outcome.
			o = e.Decide(b, o.Page, "approve")
		} else {
			t.Fatalf("no code and no consent page: %d\n%s", o.Status, o.Page)
		}
	}
	status, tok := e.Redeem("web", o.Fields.Get("code"), q.Verifier, brokertest.AppCB)
	if status != 200 || tok["scope"] != "openid notes.read" {
		t.Fatalf("after the crash: %d %v", status, tok)
	}
}

// TestDATA06_CrashBetweenRedemptionAndTokens: the code is marked used, then storing
// the tokens fails. The code cannot be redeemed again and no token is active.
func TestDATA06_CrashBetweenRedemptionAndTokens(t *testing.T) {
	t.Parallel()
	e, fs := newFailingAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	code := e.Code(b, q).Get("code")
	fs.FailRefresh.Store(true)
	status, out := e.Redeem("web", code, q.Verifier, brokertest.AppCB)
	if status == 200 || out["access_token"] != nil {
		t.Fatalf("tokens returned although storing them failed: %d %v", status, out)
	}
	fs.FailRefresh.Store(false)
	if status, out = e.Redeem("web", code, q.Verifier, brokertest.AppCB); status != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("second redemption after the crash: %d %v", status, out)
	}
	if n := e.Count("refresh_tokens"); n != 0 {
		t.Fatalf("%d refresh tokens stored", n)
	}
}

func withField(v url.Values, k, val string) url.Values {
	v.Set(k, val)
	return v
}

// TestDATA12_RestoreWatermark: after a restore, the watermark makes every token and
// session issued before it useless — refresh (invalid_grant), access (userinfo 401,
// introspection inactive), browser session (signed out) — while new ones work.
func TestDATA12_RestoreWatermark(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	_, tok := e.Redeem("web", e.Code(b, q).Get("code"), q.Verifier, brokertest.AppCB)
	at, rt := tok["access_token"].(string), tok["refresh_token"].(string)
	if res := e.UserinfoCall(http.MethodGet, "/oauth2/userinfo", "Bearer "+at); res.StatusCode != 200 {
		t.Fatalf("before the watermark: %d", res.StatusCode)
	}

	e.Clk.Add(time.Second)
	refresh, sessions, err := revoke.IssuedBefore(context.Background(), e.DB, e.Clk.Now(), e.Cfg.AccessTokenTTL)
	brokertest.Must(t, err)
	if refresh != 1 || sessions != 1 {
		t.Fatalf("revoked %d refresh tokens and %d sessions, want 1 and 1", refresh, sessions)
	}
	if res := e.UserinfoCall(http.MethodGet, "/oauth2/userinfo", "Bearer "+at); res.StatusCode != 401 {
		t.Errorf("access token after the watermark: %d", res.StatusCode)
	}
	if st, out := e.Refresh("web", rt); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("refresh token after the watermark: %d %v", st, out)
	}
	if res := e.Get(b, "/account"); res.StatusCode/100 != 3 || !strings.Contains(res.Header.Get("Location"), "/login") {
		t.Errorf("the old session still works: %d", res.StatusCode)
	}

	e.Clk.Add(2 * time.Second) // what is issued now is after the watermark
	b = e.SignedIn()
	q = brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	status, tok := e.Redeem("web", e.Code(b, q).Get("code"), q.Verifier, brokertest.AppCB)
	if status != 200 {
		t.Fatalf("new tokens after the watermark: %d %v", status, tok)
	}
	if res := e.UserinfoCall(http.MethodGet, "/oauth2/userinfo", "Bearer "+tok["access_token"].(string)); res.StatusCode != 200 {
		t.Errorf("a new access token is refused: %d", res.StatusCode)
	}
}
