package oauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// The device authorization grant (RFC 8628) through the route table: the device
// side is plain HTTP, the person's side a signed-in browser (AuthzEnv) or, in
// device_browser_test.go, headless Chromium.

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

type deviceEnv struct {
	*brokertest.AuthzEnv
}

// newDeviceEnv is AuthzEnv with "cli", a public client allowed the device grant
// and refresh tokens, as the demo's CLI is registered.
func newDeviceEnv(t *testing.T) *deviceEnv {
	t.Helper()
	e := &deviceEnv{brokertest.NewAuthzEnv(t)}
	now := e.Clk.Now()
	brokertest.Must(t, e.DB.Clients().Create(context.Background(), store.Client{ID: "cli", Name: "Ward Terminal CLI", Public: true,
		ClientURI: "https://cli.example", GrantTypes: []string{registry.GrantDeviceCode, registry.GrantRefreshToken},
		Scopes: []string{"openid", "profile", "notes.read", "notes.write", "admin"}, DefaultAudience: brokertest.NotesAPI,
		TokenEndpointAuthMethod: registry.AuthNone, CreatedAt: now, UpdatedAt: now}))
	return e
}

// post sends a form to an OAuth endpoint as a public client would: client_id in
// the body, no credentials.
func (e *deviceEnv) post(t *testing.T, path string, v url.Values) (int, map[string]any) {
	t.Helper()
	res, err := e.TS.Client().PostForm(e.TS.URL+path, v)
	brokertest.Must(t, err)
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q", path, res.Header.Get("Cache-Control"))
	}
	return res.StatusCode, out
}

// authorize starts a device authorization for client.
func (e *deviceEnv) authorize(t *testing.T, client, scope string) (deviceCode, userCode string, body map[string]any) {
	t.Helper()
	st, body := e.post(t, "/oauth2/device_authorization", url.Values{"client_id": {client}, "scope": {scope}})
	if st != 200 {
		t.Fatalf("device authorization: %d %v", st, body)
	}
	deviceCode, _ = body["device_code"].(string)
	userCode, _ = body["user_code"].(string)
	return deviceCode, userCode, body
}

// poll is the device asking the token endpoint once.
func (e *deviceEnv) poll(t *testing.T, client, deviceCode string) (int, map[string]any) {
	t.Helper()
	return e.post(t, "/oauth2/token", url.Values{"grant_type": {deviceGrant}, "client_id": {client}, "device_code": {deviceCode}})
}

func wantDeviceError(t *testing.T, st int, body map[string]any, code string) {
	t.Helper()
	if st != http.StatusBadRequest || body["error"] != code || body["access_token"] != nil {
		t.Fatalf("want 400 %s, got %d %v", code, st, body)
	}
}

// enterCode submits code on /device in browser c and returns the page it gets.
func (e *deviceEnv) enterCode(c *http.Client, code string) (int, string) {
	e.T.Helper()
	_, page := e.Follow(c, e.Get(c, "/device"))
	f := brokertest.FormFields(e.T, page, "/device")
	f.Set("user_code", code)
	res, page := e.Follow(c, e.PostForm(c, "/device", f))
	return res.StatusCode, page
}

// decide answers the confirmation page.
func (e *deviceEnv) decide(c *http.Client, page, decision string) (int, string) {
	e.T.Helper()
	f := brokertest.FormFields(e.T, page, "/device/confirm")
	f.Set("decision", decision)
	res, out := e.Follow(c, e.PostForm(c, "/device/confirm", f))
	return res.StatusCode, out
}

func (e *deviceEnv) aliceID(t *testing.T) string {
	t.Helper()
	us, err := e.DB.Users().FindByEmail(context.Background(), "alice@oidc.example")
	brokertest.Must(t, err)
	if len(us) != 1 {
		t.Fatalf("%d alices", len(us))
	}
	return us[0].ID
}

// TestDeviceFlowApprove: the device gets authorization_pending until alice,
// signed in elsewhere, enters the code (typed in lower case without the dash,
// RFC 8628 §6.1) and allows the app on a page that names it; then the poll
// returns tokens about alice, narrowed by her roles (admin is not hers), with a
// refresh token, and her consent is stored as the consent page stores it.
func TestDeviceFlowApprove(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t)
	dc, uc, body := e.authorize(t, "cli", "openid notes.read notes.write admin")
	if len(uc) != 9 || uc[4] != '-' || strings.Trim(uc, "BCDFGHJKLMNPQRSTVWXZ-") != "" ||
		body["verification_uri"] != e.TS.URL+"/device" ||
		body["verification_uri_complete"] != e.TS.URL+"/device?user_code="+uc ||
		body["expires_in"] != float64(600) || body["interval"] != float64(5) {
		t.Fatalf("device authorization response %v", body)
	}
	st, out := e.poll(t, "cli", dc)
	wantDeviceError(t, st, out, "authorization_pending")

	b := e.SignedIn()
	st, page := e.enterCode(b, strings.ToLower(strings.ReplaceAll(uc, "-", " ")))
	if st != 200 || !strings.Contains(page, `data-testid="device-confirm"`) || !strings.Contains(page, "Ward Terminal CLI") ||
		!strings.Contains(page, `data-testid="device-warning"`) || !strings.Contains(page, `data-testid="device-scope-notes.write"`) ||
		!strings.Contains(page, `data-testid="device-refused-admin"`) || !strings.Contains(page, "https://cli.example") {
		t.Fatalf("confirmation: %d\n%s", st, page)
	}
	if n := e.Count("consents"); n != 0 {
		t.Fatalf("%d consents before Allow", n)
	}
	e.Clk.Add(6 * time.Second)
	st, page = e.decide(b, page, "approve")
	if st != 200 || !strings.Contains(page, `data-approved="true"`) {
		t.Fatalf("after Allow: %d\n%s", st, page)
	}
	st, tok := e.poll(t, "cli", dc)
	if st != 200 || tok["refresh_token"] == nil || tok["id_token"] == nil || tok["scope"] != "openid notes.read notes.write" {
		t.Fatalf("tokens: %d %v", st, tok)
	}
	alice := e.aliceID(t)
	if c := jwtClaims(t, tok["access_token"]); c["sub"] != alice || c["client_id"] != "cli" {
		t.Errorf("access token %v", c)
	}
	if c := jwtClaims(t, tok["id_token"]); c["sub"] != alice || c["aud"] != "cli" {
		t.Errorf("ID token %v", c)
	}
	consent, err := e.DB.Consents().Get(context.Background(), alice, "cli")
	brokertest.Must(t, err)
	if strings.Join(consent.Scopes, " ") != "openid notes.read notes.write" {
		t.Errorf("consent %v", consent.Scopes)
	}
	if len(e.Audited("device.approved")) != 1 {
		t.Error("approval not audited")
	}
	// The refresh token works like one from a code.
	if st, rt := e.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"cli"},
		"refresh_token": {tok["refresh_token"].(string)}}); st != 200 {
		t.Errorf("refresh: %d %v", st, rt)
	}
}

// TestDeviceCodeRedeemedOnce: the device code of an approved request gives
// tokens once; presented again it is invalid_grant, audited, and the tokens of
// the first redemption stay valid (it never travelled through a browser, so a
// second use is the device's own retry, not a theft to answer by revoking).
func TestDeviceCodeRedeemedOnce(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t)
	dc, uc, _ := e.authorize(t, "cli", "openid notes.read")
	b := e.SignedIn()
	_, page := e.enterCode(b, uc)
	e.decide(b, page, "approve")
	st, tok := e.poll(t, "cli", dc)
	if st != 200 {
		t.Fatalf("first redeem: %d %v", st, tok)
	}
	st, again := e.poll(t, "cli", dc)
	if st != 400 || again["error"] != "invalid_grant" || again["access_token"] != nil {
		t.Fatalf("second redeem: %d %v", st, again)
	}
	if n := e.Count("refresh_tokens"); n != 1 {
		t.Errorf("%d refresh tokens", n)
	}
	res := e.UserinfoCall(http.MethodGet, "/oauth2/userinfo", "Bearer "+tok["access_token"].(string))
	if res.StatusCode != 200 {
		t.Errorf("first access token after the replay: userinfo %d", res.StatusCode)
	}
	if !hasRejection(e, "device_code_reused") {
		t.Error("replay not audited")
	}
}

func hasRejection(e *deviceEnv, reason string) bool {
	for _, ev := range e.Audited("oauth.rejected") {
		if strings.Contains(string(ev.Details), `"reason":"`+reason+`"`) {
			return true
		}
	}
	return false
}

// TestDeviceFlowDeny: Deny makes the next poll access_denied, and nothing is
// issued or consented.
func TestDeviceFlowDeny(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t)
	dc, uc, _ := e.authorize(t, "cli", "openid notes.read")
	b := e.SignedIn()
	_, page := e.enterCode(b, uc)
	st, page := e.decide(b, page, "deny")
	if st != 200 || !strings.Contains(page, `data-approved="false"`) {
		t.Fatalf("after Deny: %d\n%s", st, page)
	}
	st, out := e.poll(t, "cli", dc)
	wantDeviceError(t, st, out, "access_denied")
	e.WantNothingIssued(t)
	if n := e.Count("refresh_tokens"); n != 0 {
		t.Errorf("%d refresh tokens", n)
	}
	// The code is spent: entering it again finds nothing to allow.
	if st, page := e.enterCode(b, uc); st != 400 || !strings.Contains(page, `data-testid="device-problem"`) {
		t.Errorf("code after Deny: %d\n%s", st, page)
	}
}

// TestDeviceCodeExpired: past expires_in the poll is expired_token, and the user
// code no longer opens a confirmation.
func TestDeviceCodeExpired(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t)
	dc, uc, _ := e.authorize(t, "cli", "openid")
	e.Clk.Add(10*time.Minute + time.Second)
	st, out := e.poll(t, "cli", dc)
	wantDeviceError(t, st, out, "expired_token")
	b := e.SignedIn()
	if st, page := e.enterCode(b, uc); st != 400 || !strings.Contains(page, `data-testid="device-problem"`) {
		t.Fatalf("expired code: %d\n%s", st, page)
	}
	e.WantNothingIssued(t)
}

// TestDevicePollingSlowDown: RFC 8628 §3.5: polling before the interval has
// passed is slow_down, and the interval grows by 5 s for all later polls.
func TestDevicePollingSlowDown(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t)
	dc, _, _ := e.authorize(t, "cli", "openid")
	st, out := e.poll(t, "cli", dc)
	wantDeviceError(t, st, out, "authorization_pending")
	e.Clk.Add(time.Second)
	st, out = e.poll(t, "cli", dc)
	wantDeviceError(t, st, out, "slow_down")
	// The interval is now 10 s: 6 s later is still too fast (and 15 s from then).
	e.Clk.Add(6 * time.Second)
	st, out = e.poll(t, "cli", dc)
	wantDeviceError(t, st, out, "slow_down")
	e.Clk.Add(15 * time.Second)
	st, out = e.poll(t, "cli", dc)
	wantDeviceError(t, st, out, "authorization_pending")
}

// TestDeviceUserCodeBruteForceRateLimited: RFC 8628 §5.1. Wrong user codes are
// refused and audited; after five tries in a minute from a session the sixth,
// even the right code, is 429 and approves nothing; a fresh session from the
// same address is limited too.
func TestDeviceUserCodeBruteForceRateLimited(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t)
	dc, uc, _ := e.authorize(t, "cli", "openid")
	b := e.SignedIn()
	for i, guess := range []string{"BBBB-BBBB", "CDFG-HJKL", "MNPQ-RSTV", "WXZB-CDFG", "HJKL-MNPQ"} {
		if guess == uc {
			continue
		}
		if st, page := e.enterCode(b, guess); st != 400 || !strings.Contains(page, `data-testid="device-problem"`) {
			t.Fatalf("guess %d: %d\n%s", i, st, page)
		}
	}
	if st, page := e.enterCode(b, uc); st != http.StatusTooManyRequests || strings.Contains(page, `data-testid="device-confirm"`) {
		t.Fatalf("sixth try: %d\n%s", st, page)
	}
	if st, page := e.enterCode(e.SignedIn(), uc); st != http.StatusTooManyRequests {
		t.Fatalf("another session, same address: %d\n%s", st, page)
	}
	if n := len(e.Audited("device.code_rejected")); n < 4 {
		t.Errorf("%d wrong codes audited", n)
	}
	if len(e.Audited("device.code_rate_limited")) == 0 {
		t.Error("rate limiting not audited")
	}
	st, out := e.poll(t, "cli", dc)
	wantDeviceError(t, st, out, "authorization_pending")
	// A minute later the person can go on.
	e.Clk.Add(time.Minute)
	if st, page := e.enterCode(b, uc); st != 200 || !strings.Contains(page, `data-testid="device-confirm"`) {
		t.Fatalf("a minute later: %d\n%s", st, page)
	}
}

// TestDeviceGrantNotAllowed: a client without the device grant is
// unauthorized_client at the device authorization endpoint and at the token
// endpoint, and no request is stored.
func TestDeviceGrantNotAllowed(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t)
	st, out := e.post(t, "/oauth2/device_authorization", url.Values{"client_id": {"native"}, "scope": {"openid"}})
	if st != 400 || out["error"] != "unauthorized_client" {
		t.Fatalf("device authorization for native: %d %v", st, out)
	}
	dc, _, _ := e.authorize(t, "cli", "openid")
	st, out = e.poll(t, "native", dc)
	if st != 400 || out["error"] != "unauthorized_client" {
		t.Fatalf("device grant by native: %d %v", st, out)
	}
	if n := e.Count("device_authorizations"); n != 1 {
		t.Errorf("%d device authorizations stored", n)
	}
	// A confidential client without credentials is not authenticated.
	if st, out := e.post(t, "/oauth2/device_authorization", url.Values{"client_id": {"web"}}); st != 401 || out["error"] != "invalid_client" {
		t.Errorf("confidential client without secret: %d %v", st, out)
	}
	// An unknown scope only is invalid_scope.
	if st, out := e.post(t, "/oauth2/device_authorization", url.Values{"client_id": {"cli"}, "scope": {"billing"}}); st != 400 ||
		out["error"] != "invalid_scope" {
		t.Errorf("unknown scope: %d %v", st, out)
	}
}

// TestDeviceCodeForged: an unknown device code, and another client's, are
// invalid_grant, audited, and issue nothing.
func TestDeviceCodeForged(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t)
	now := e.Clk.Now()
	brokertest.Must(t, e.DB.Clients().Create(context.Background(), store.Client{ID: "cli2", Name: "Other CLI", Public: true,
		GrantTypes: []string{registry.GrantDeviceCode}, Scopes: []string{"openid"}, TokenEndpointAuthMethod: registry.AuthNone,
		CreatedAt: now, UpdatedAt: now}))
	st, out := e.poll(t, "cli", "forged-device-code-0123456789")
	if st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("forged: %d %v", st, out)
	}
	dc, uc, _ := e.authorize(t, "cli", "openid")
	b := e.SignedIn()
	_, page := e.enterCode(b, uc)
	e.decide(b, page, "approve")
	st, out = e.poll(t, "cli2", dc)
	if st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("other client's device code: %d %v", st, out)
	}
	if !hasRejection(e, "device_code_unknown") || !hasRejection(e, "device_code_other_client") {
		t.Error("refusals not audited")
	}
	if n := e.Count("refresh_tokens"); n != 0 {
		t.Errorf("%d refresh tokens", n)
	}
	// The rightful client still gets its tokens.
	if st, tok := e.poll(t, "cli", dc); st != 200 {
		t.Errorf("rightful client: %d %v", st, tok)
	}
}

// TestDeviceConfirmOtherSession: the confirmation form is sealed to the session
// that opened it: posted from another signed-in browser it is refused and the
// request stays pending.
func TestDeviceConfirmOtherSession(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t)
	dc, uc, _ := e.authorize(t, "cli", "openid")
	_, page := e.enterCode(e.SignedIn(), uc)
	st, _ := e.decide(e.SignedIn(), page, "approve")
	if st != http.StatusForbidden {
		t.Fatalf("other session's form: %d", st)
	}
	st, out := e.poll(t, "cli", dc)
	wantDeviceError(t, st, out, "authorization_pending")
	e.WantNothingIssued(t)
}

// TestDevicePageNeedsSignIn: /device sends a person who is not signed in to the
// normal login, coming back with the user code filled in.
func TestDevicePageNeedsSignIn(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t)
	c := brokertest.NewClient(e.SigninEnv)
	res := e.Get(c, "/device?user_code=wdjb-mjht")
	loc := res.Header.Get("Location")
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") ||
		!strings.Contains(loc, url.QueryEscape("/device?user_code=wdjb-mjht")) {
		t.Fatalf("%d %s", res.StatusCode, loc)
	}
}

// TestDiscoveryAdvertisesDeviceFlow: RFC 8628 §4.
func TestDiscoveryAdvertisesDeviceFlow(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t)
	res := e.Get(e.TS.Client(), "/.well-known/openid-configuration")
	defer res.Body.Close()
	var doc struct {
		Endpoint string   `json:"device_authorization_endpoint"`
		Grants   []string `json:"grant_types_supported"`
	}
	brokertest.Must(t, json.NewDecoder(res.Body).Decode(&doc))
	if doc.Endpoint != e.TS.URL+"/oauth2/device_authorization" || !strings.Contains(strings.Join(doc.Grants, " "), deviceGrant) {
		t.Fatalf("%+v", doc)
	}
}
