package passkeys_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// session is alice's only session.
func (w *keyWorld) session(t *testing.T) store.Session {
	t.Helper()
	ss, err := w.DB.Sessions().ListForUser(context.Background(), w.alice(t))
	brokertest.Must(t, err)
	if len(ss) != 1 {
		t.Fatalf("alice has %d sessions", len(ss))
	}
	return ss[0]
}

// fakeKey stores a key for alice that no authenticator holds: enough to
// start a ceremony, never to finish one.
func (w *keyWorld) fakeKey(t *testing.T) {
	t.Helper()
	brokertest.Must(t, w.DB.SecurityKeys().Create(context.Background(), store.SecurityKey{ID: "k1", UserID: w.alice(t),
		CredentialID: []byte("credential-1"), PublicKey: []byte("cose"), Name: "Key", CreatedAt: w.Clk.Now()}))
}

var csrfAttr = regexp.MustCompile(`data-(csrf(?:-options)?)="([^"]+)"`)

// ceremonyTokens reads the CSRF tokens of the ceremony form on page.
func ceremonyTokens(t *testing.T, page string) (options, finish string) {
	t.Helper()
	for _, m := range csrfAttr.FindAllStringSubmatch(page, -1) {
		if m[1] == "csrf-options" {
			options = m[2]
		} else {
			finish = m[2]
		}
	}
	if options == "" || finish == "" {
		t.Fatalf("no ceremony tokens on the page:\n%s", page)
	}
	return options, finish
}

func readAll(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return string(b)
}

// TestWEB01_SecurityKeyCeremoniesNeedCSRFToken: every ceremony POST without
// its form token (WEB-01) is refused with 403, before anything runs: no key
// stored, the session not stepped up.
func TestWEB01_SecurityKeyCeremoniesNeedCSRFToken(t *testing.T) {
	w := newKeyWorld(t, nil)
	c := w.SignedIn()
	w.fakeKey(t)
	for _, path := range []string{"/account/security-keys/options", "/account/security-keys", web.StepUpPath + "/options", web.StepUpPath} {
		res := w.PostForm(c, path, url.Values{"name": {"Mine"}, "credential": {"{}"}, "csrf_token": {"forged"}})
		if body := readAll(res); res.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without its token: %d %s", path, res.StatusCode, body)
		}
	}
	if keys := w.keys(t, w.alice(t)); len(keys) != 1 {
		t.Errorf("%d keys stored", len(keys))
	}
	if s := w.session(t); web.SteppedUp(s) {
		t.Errorf("session stepped up: %+v", s)
	}
}

// TestWebAuthnCeremonyIsSingleUse: a ceremony's challenge, kept in the
// encrypted browser cookie, is used once on every replica: the cookie as it
// was before the first answer cannot carry a second (replay cache); each
// refusal is audited and steps nothing up.
func TestWebAuthnCeremonyIsSingleUse(t *testing.T) {
	w := newKeyWorld(t, nil)
	c := w.SignedIn()
	w.fakeKey(t)
	page := readAll(w.Get(c, web.StepUpURL("/account")))
	optTok, finishTok := ceremonyTokens(t, page)
	res := w.PostForm(c, web.StepUpPath+"/options", url.Values{"csrf_token": {optTok}})
	var opts struct {
		PublicKey struct {
			Challenge        string `json:"challenge"`
			RPID             string `json:"rpId"`
			AllowCredentials []any  `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	if err := json.NewDecoder(res.Body).Decode(&opts); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("options: %d %v", res.StatusCode, err)
	}
	res.Body.Close()
	if opts.PublicKey.Challenge == "" || opts.PublicKey.RPID != "localhost" || len(opts.PublicKey.AllowCredentials) != 1 {
		t.Fatalf("options %+v", opts)
	}
	issuer, _ := url.Parse(w.TS.URL)
	before := c.Jar.Cookies(issuer)
	answer := url.Values{"csrf_token": {finishTok}, "credential": {`{"id":"x"}`}, "return_to": {"/account"}}
	for i := range 2 {
		if i == 1 {
			c.Jar.SetCookies(issuer, before) // the cookie from before the first answer
		}
		res := w.PostForm(c, web.StepUpPath, answer)
		if body := readAll(res); res.StatusCode != http.StatusBadRequest {
			t.Fatalf("answer %d: %d %s", i, res.StatusCode, body)
		}
	}
	var reasons []string
	for _, e := range w.Audited("securitykey.refused") {
		var d map[string]any
		json.Unmarshal(e.Details, &d)
		reason, _ := d["reason"].(string)
		reasons = append(reasons, reason)
	}
	if !slices.Contains(reasons, "malformed_credential") || !slices.Contains(reasons, "no_ceremony") {
		t.Errorf("refusals audited: %v", reasons)
	}
	if s := w.session(t); web.SteppedUp(s) || len(w.Audited("session.stepped_up")) != 0 {
		t.Errorf("session stepped up: %+v", s)
	}
}

// TestOIDC25_UpstreamCannotClaimGatehouseKeyACR: an upstream IdP whose ID
// token says acr = web.ACRSecurityKey does not meet an app's request for it:
// only Gatehouse's step-up does, so the person is sent to use their key and no
// code is issued.
func TestOIDC25_UpstreamCannotClaimGatehouseKeyACR(t *testing.T) {
	w := newKeyWorld(t, nil)
	w.OIDC.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"acr": web.ACRSecurityKey, "amr": []any{"hwk"}} })
	c := w.SignedIn()
	q := brokertest.NewAuthzReq("ward", w.redirect, "openid notes.read")
	q.Params.Set("acr_values", web.ACRSecurityKey)
	o := w.Start(c, q)
	if o.App != nil || o.Res.Request.URL.Path != web.StepUpPath {
		t.Fatalf("ended at %v (app %v)", o.Res.Request.URL, o.App)
	}
	if s := w.session(t); s.ACR == web.ACRSecurityKey {
		t.Errorf("the IdP's acr was kept: %+v", s)
	}
	if n := w.Count("auth_codes"); n != 0 {
		t.Errorf("%d codes issued", n)
	}
}

// TestWebAuthnStepUpPromptNone: prompt=none cannot step a session up (OIDC
// Core §3.1.2.6): interaction_required, and no code.
func TestWebAuthnStepUpPromptNone(t *testing.T) {
	w := newKeyWorld(t, nil)
	c := w.SignedIn()
	q := brokertest.NewAuthzReq("ward", w.redirect, "openid notes.read")
	q.Params.Set("acr_values", web.ACRSecurityKey)
	q.Params.Set("prompt", "none")
	o := w.Start(c, q)
	if o.App == nil || o.Fields.Get("error") != "interaction_required" {
		t.Fatalf("outcome %+v %s", o.Fields, o.Page)
	}
	if n := w.Count("auth_codes"); n != 0 {
		t.Errorf("%d codes issued", n)
	}
}

// TestWebAuthnProviderPolicy: GATEHOUSE_SECURITY_KEY_PROVIDERS names the
// providers whose sign-ins need a key: an app's request from such a session
// goes to "Use your security key" with no code issued; without the policy
// (the default) the same request gets its code.
func TestWebAuthnProviderPolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]string
		stepUp   bool
	}{
		{"policy", map[string]string{"GATEHOUSE_SECURITY_KEY_PROVIDERS": "other, corp"}, true},
		{"default", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newKeyWorld(t, tc.settings)
			c := w.SignedIn()
			o := w.Start(c, brokertest.NewAuthzReq("ward", w.redirect, "openid notes.read"))
			if tc.stepUp {
				if o.App != nil || o.Res.Request.URL.Path != web.StepUpPath || w.Count("auth_codes") != 0 {
					t.Fatalf("ended at %v (app %v), %d codes", o.Res.Request.URL, o.App, w.Count("auth_codes"))
				}
				return
			}
			if o.App == nil || o.Fields.Get("code") == "" {
				t.Fatalf("no code: %+v %s", o.Fields, o.Page)
			}
		})
	}
}

// TestWebAuthnEssentialACRStepsUpAfterUpstreamSignIn: an essential acr of
// web.ACRSecurityKey (OIDC Core §5.5.1.1) from a browser not signed in is not
// demanded of the upstream IdP, which knows nothing of it (no refusal for an
// unmet acr, SECURITY.md OIDC-25's check is for upstream values): after the
// upstream sign-in the person is sent to use their key, and no code is issued.
func TestWebAuthnEssentialACRStepsUpAfterUpstreamSignIn(t *testing.T) {
	w := newKeyWorld(t, nil)
	c := brokertest.NewClient(w.SigninEnv)
	q := brokertest.NewAuthzReq("ward", w.redirect, "openid notes.read")
	q.Params.Set("claims", `{"id_token":{"acr":{"essential":true,"values":["`+web.ACRSecurityKey+`"]}}}`)
	o := w.Start(c, q)
	f := brokertest.FormFields(t, o.Page, "/login")
	f.Set("email", "alice@oidc.example")
	o = w.Drive(c, w.PostForm(c, "/login", f))
	if o.App != nil || o.Res.Request.URL.Path != web.StepUpPath {
		t.Fatalf("ended at %v (app %v)\n%s", o.Res.Request.URL, o.App, o.Page)
	}
	if n := w.Count("auth_codes"); n != 0 {
		t.Errorf("%d codes issued", n)
	}
	if len(w.Audited("signin.refused")) != 0 {
		t.Error("the upstream sign-in was refused for the acr")
	}
}

// TestWebAuthnRefusalInPageLanguage: a ceremony's refusal, which webauthn.js
// shows in the page's status line, is said in the page's language (here the
// language cookie's Welsh), and nothing is stepped up.
func TestWebAuthnRefusalInPageLanguage(t *testing.T) {
	w := newKeyWorld(t, nil)
	c := w.SignedIn()
	w.fakeKey(t)
	issuer, _ := url.Parse(w.TS.URL)
	c.Jar.SetCookies(issuer, []*http.Cookie{{Name: web.LocaleCookie, Value: "cy", Path: "/"}})
	_, finishTok := ceremonyTokens(t, readAll(w.Get(c, web.StepUpURL("/account"))))
	// No options asked for: there is no ceremony to finish.
	res := w.PostForm(c, web.StepUpPath, url.Values{"csrf_token": {finishTok}, "credential": {`{"id":"x"}`}, "return_to": {"/account"}})
	var got struct {
		Message string `json:"message"`
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("answer: %d %v", res.StatusCode, err)
	}
	res.Body.Close()
	if want := "Cymerodd hyn ormod o amser neu mae wedi’i ddefnyddio’n barod. Rhowch gynnig arall arni."; got.Message != want {
		t.Errorf("refusal %q, want %q", got.Message, want)
	}
	if s := w.session(t); web.SteppedUp(s) || len(w.Audited("session.stepped_up")) != 0 {
		t.Errorf("session stepped up: %+v", s)
	}
}
