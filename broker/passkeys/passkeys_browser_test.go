package passkeys_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// keyWorld is the OAuth harness (alice at the OIDC issuer "corp") served at
// http://localhost (brokertest.Options.PlainLocalhost), with a first-party
// app whose callback page the browser reaches.
type keyWorld struct {
	*brokertest.AuthzEnv
	redirect string
	mu       sync.Mutex
	callback url.Values
}

func newKeyWorld(t *testing.T, settings map[string]string) *keyWorld {
	t.Helper()
	w := &keyWorld{AuthzEnv: brokertest.NewAuthzEnvWith(t, brokertest.Options{PlainLocalhost: true, Settings: settings})}
	rp := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cb" {
			w.mu.Lock()
			w.callback = r.URL.Query()
			w.mu.Unlock()
		}
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.Write([]byte(`<!doctype html><title>RP</title><p data-testid="rp-done">back at the application</p>`))
	}))
	t.Cleanup(rp.Close)
	w.redirect = rp.URL + "/cb"
	secret, hash := registry.NewSecret()
	now := w.Clk.Now()
	brokertest.Must(t, w.DB.Clients().Create(context.Background(), store.Client{ID: "ward", Name: "Ward App", SecretHash: hash,
		FirstParty: true, RedirectURIs: []string{w.redirect},
		GrantTypes: []string{registry.GrantAuthorizationCode, registry.GrantRefreshToken},
		Scopes:     []string{"openid", "offline_access", "notes.read"}, DefaultAudience: brokertest.NotesAPI,
		TokenEndpointAuthMethod: registry.AuthSecretBasic, CreatedAt: now, UpdatedAt: now}))
	w.Secrets["ward"] = secret
	return w
}

// authenticator adds a CTAP2 virtual authenticator to the browser (Chrome
// DevTools Protocol WebAuthn domain): transport internal is a platform
// authenticator (a passkey), usb a roaming security key. It verifies the user
// and simulates their touch.
func authenticator(t *testing.T, ctx context.Context, transport webauthn.AuthenticatorTransport) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: transport, HasResidentKey: true, HasUserVerification: true, IsUserVerified: true,
			AutomaticPresenceSimulation: true}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// signIn signs alice in at corp, ending on returnTo.
func (w *keyWorld) signIn(returnTo string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(w.TS.URL + web.LoginURL(returnTo)),
		bt.WaitTestID("login-email"),
		chromedp.SendKeys(bt.Sel("login-email"), "alice@oidc.example"),
		chromedp.Click(bt.Sel("login-submit")),
	}
}

// addKey adds a key named name on the security-keys page the browser is on.
func addKey(name string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		bt.WaitTestID("security-key-name-input"),
		chromedp.SendKeys(bt.Sel("security-key-name-input"), name),
		chromedp.Click(bt.Sel("security-key-add-button")),
	}
}

func (w *keyWorld) keys(t *testing.T, userID string) []store.SecurityKey {
	t.Helper()
	keys, err := w.DB.SecurityKeys().ListForUser(context.Background(), userID)
	brokertest.Must(t, err)
	return keys
}

func (w *keyWorld) alice(t *testing.T) string {
	t.Helper()
	us, err := w.DB.Users().FindByEmail(context.Background(), "alice@oidc.example")
	brokertest.Must(t, err)
	if len(us) != 1 {
		t.Fatalf("alice: %d users", len(us))
	}
	return us[0].ID
}

// claims reads a JWT's payload; the token endpoint's answer is trusted here.
func claims(t *testing.T, jwt any) map[string]any {
	t.Helper()
	s, _ := jwt.(string)
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %v", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	brokertest.Must(t, err)
	var c map[string]any
	brokertest.Must(t, json.Unmarshal(b, &c))
	return c
}

func amrOf(c map[string]any) []string {
	var out []string
	list, _ := c["amr"].([]any)
	for _, v := range list {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// TestWebAuthnRegisterAndStepUpFromACRValues: in headless Chromium with a
// virtual authenticator, alice adds a key on her account page; an app then
// asks for web.ACRSecurityKey in acr_values, her session (signed in without
// a key) is stepped up on "Use your security key" rather than signed in again
// upstream, and the ID token has the acr and amr hwk (a roaming key) or swk
// (a platform passkey) with mfa; the refreshed ID token keeps them (OIDC Core
// §12.2).
func TestWebAuthnRegisterAndStepUpFromACRValues(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transport webauthn.AuthenticatorTransport
		amr, kind string
	}{
		{"roaming key", webauthn.AuthenticatorTransportUsb, "hwk", "Security key"},
		{"platform passkey", webauthn.AuthenticatorTransportInternal, "swk", "Passkey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newKeyWorld(t, nil)
			ctx := bt.New(t, 90*time.Second)
			authenticator(t, ctx, tc.transport)
			err := chromedp.Do(ctx, append(w.signIn("/account/security-keys"), bt.WaitTestID("security-keys-none"))...)
			if err != nil {
				t.Fatalf("browser: %v\n%s", err, w.Logs)
			}
			bt.Axe(t, ctx)
			brokertest.Must(t, chromedp.Do(ctx, append(addKey("My key"), bt.WaitTestID("security-keys-notice"))...))
			alice := w.alice(t)
			keys := w.keys(t, alice)
			if len(keys) != 1 || keys[0].Name != "My key" || len(keys[0].PublicKey) == 0 {
				t.Fatalf("stored keys %+v", keys)
			}
			if kind, _ := bt.Text(ctx, "security-key-kind"); kind != tc.kind {
				t.Errorf("kind %q, want %q", kind, tc.kind)
			}
			bt.Axe(t, ctx)
			upstreamLogins := len(w.Audited("signin.succeeded"))

			q := brokertest.NewAuthzReq("ward", w.redirect, "openid offline_access notes.read")
			q.Params.Set("acr_values", web.ACRSecurityKey)
			brokertest.Must(t, chromedp.Do(ctx, chromedp.Navigate(w.TS.URL+q.URL()), bt.WaitTestID("step-up-button")))
			bt.Axe(t, ctx)
			brokertest.Must(t, chromedp.Do(ctx, chromedp.Click(bt.Sel("step-up-button")), bt.WaitTestID("rp-done")))
			if n := len(w.Audited("signin.succeeded")); n != upstreamLogins {
				t.Errorf("the step-up signed in upstream again: %d sign-ins, were %d", n, upstreamLogins)
			}
			w.mu.Lock()
			code := w.callback.Get("code")
			w.mu.Unlock()
			st, tok := w.Redeem("ward", code, q.Verifier, w.redirect)
			if st != http.StatusOK {
				t.Fatalf("redeem: %d %v", st, tok)
			}
			id := claims(t, tok["id_token"])
			if id["acr"] != web.ACRSecurityKey || !slices.Contains(amrOf(id), tc.amr) || !slices.Contains(amrOf(id), "mfa") {
				t.Errorf("ID token acr %v amr %v", id["acr"], id["amr"])
			}
			rt, _ := tok["refresh_token"].(string)
			st, tok = w.Refresh("ward", rt)
			if st != http.StatusOK {
				t.Fatalf("refresh: %d %v", st, tok)
			}
			if id := claims(t, tok["id_token"]); id["acr"] != web.ACRSecurityKey || !slices.Contains(amrOf(id), tc.amr) {
				t.Errorf("refreshed ID token acr %v amr %v", id["acr"], id["amr"])
			}
			if k := w.keys(t, alice); k[0].LastUsedAt.IsZero() {
				t.Errorf("last use not recorded: %+v", k[0])
			}
			if len(w.Audited("session.stepped_up")) != 1 {
				t.Error("no session.stepped_up audit event")
			}
		})
	}
}
