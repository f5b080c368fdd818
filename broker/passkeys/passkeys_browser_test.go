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

	"github.com/chromedp/cdproto/cdp"
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

// TestWebAuthnAdminPolicyRequiresKey: with GATEHOUSE_SECURITY_KEY_ROLES=admin,
// an admin signed in upstream without a key is refused the console (and an
// app) and sent to "Use your security key", which offers to add one; after
// adding one and using it, the same session reaches the console. Their last
// key cannot be removed while the policy requires one.
func TestWebAuthnAdminPolicyRequiresKey(t *testing.T) {
	w := newKeyWorld(t, map[string]string{"GATEHOUSE_SECURITY_KEY_ROLES": "admin"})
	ctx := bt.New(t, 90*time.Second)
	authenticator(t, ctx, webauthn.AuthenticatorTransportUsb)
	brokertest.Must(t, chromedp.Do(ctx, append(w.signIn("/account"), bt.WaitTestID("account"))...))
	alice := w.alice(t)
	brokertest.Must(t, w.DB.Roles().Grant(context.Background(), store.RoleGrant{UserID: alice, Role: store.RoleAdmin,
		GrantedBy: "test", GrantedAt: w.Clk.Now()}))

	// Refused without a key: the console and an app alike.
	brokertest.Must(t, chromedp.Do(ctx, chromedp.Navigate(w.TS.URL+"/admin"), bt.WaitTestID("step-up-no-keys")))
	path, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
	brokertest.Must(t, err)
	if path != web.StepUpPath {
		t.Fatalf("the console without a key ended at %s", path)
	}
	bt.Axe(t, ctx)
	q := brokertest.NewAuthzReq("ward", w.redirect, "openid notes.read")
	brokertest.Must(t, chromedp.Do(ctx, chromedp.Navigate(w.TS.URL+q.URL()), bt.WaitTestID("step-up-no-keys")))
	w.mu.Lock()
	got := w.callback
	w.mu.Unlock()
	if got != nil || w.Count("auth_codes") != 0 {
		t.Fatalf("an app got an answer without the required key: %v, %d codes", got, w.Count("auth_codes"))
	}

	// Add a key from the step-up page, use it, and reach the console.
	brokertest.Must(t, chromedp.Do(ctx, chromedp.Navigate(w.TS.URL+"/admin"), bt.WaitTestID("step-up-add"),
		chromedp.Click(bt.Sel("step-up-add")), bt.WaitTestID("security-keys-required")))
	brokertest.Must(t, chromedp.Do(ctx, append(addKey("Admin key"), bt.WaitTestID("step-up-button"),
		chromedp.Click(bt.Sel("step-up-button")), bt.WaitTestID("admin-home"))...))

	// The last key stays while the policy requires one.
	brokertest.Must(t, chromedp.Do(ctx, chromedp.Navigate(w.TS.URL+"/account/security-keys"),
		bt.WaitTestID("security-key-remove"), chromedp.Click(bt.Sel("security-key-remove")),
		bt.WaitTestID("security-key-remove-confirm")))
	bt.Axe(t, ctx)
	brokertest.Must(t, chromedp.Do(ctx, chromedp.Click(bt.Sel("confirm")), bt.WaitTestID("error")))
	status, err := chromedp.Run(ctx, chromedp.AttributeValue(bt.Sel("error"), "data-status"))
	brokertest.Must(t, err)
	if status.Value != "409" || len(w.keys(t, alice)) != 1 {
		t.Errorf("removing the last required key: status %s, %d keys left", status.Value, len(w.keys(t, alice)))
	}
	if len(w.Audited("securitykey.removed")) != 0 || len(w.Audited("securitykey.refused")) != 1 {
		t.Error("the refused removal is not audited as one")
	}
}

// addCredential is WebAuthn.addCredential with only the members this Chromium
// knows: cdproto's Credential always sends generateCmtgKeyOnNextOperation,
// which Chromium refuses ("CMTG is not supported by this authenticator").
var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      virtualCredential        `json:"credential"`
}

type virtualCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
}

// TestWebAuthnCloneWarningRefused: a key whose signature counter goes back
// (its virtual credential re-added with a lower signCount, as a clone would
// answer) is flagged, audited and refused (WebAuthn L2 §7.2 step 21): the
// session is not stepped up, the person is told, the account page shows it,
// and the key is not offered again.
func TestWebAuthnCloneWarningRefused(t *testing.T) {
	w := newKeyWorld(t, nil)
	ctx := bt.New(t, 90*time.Second)
	auth := authenticator(t, ctx, webauthn.AuthenticatorTransportUsb)
	brokertest.Must(t, chromedp.Do(ctx, append(w.signIn("/account/security-keys"), addKey("Blue key")...)...))
	brokertest.Must(t, chromedp.Do(ctx, bt.WaitTestID("security-keys-notice"),
		chromedp.Navigate(w.TS.URL+web.StepUpURL("/account/security-keys")), bt.WaitTestID("step-up-button"),
		chromedp.Click(bt.Sel("step-up-button")), bt.WaitTestID("security-keys")))
	alice := w.alice(t)
	before := w.keys(t, alice)[0]
	if before.SignCount == 0 || len(w.Audited("session.stepped_up")) != 1 {
		t.Fatalf("first use: %+v", before)
	}

	// The clone: the same private key with a counter from before.
	creds, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth})
	brokertest.Must(t, err)
	if len(creds.Credentials) != 1 {
		t.Fatalf("virtual credentials: %d", len(creds.Credentials))
	}
	c := *creds.Credentials[0]
	_, err = chromedp.Call(ctx, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: auth, CredentialID: c.CredentialID})
	brokertest.Must(t, err)
	clone := virtualCredential{CredentialID: c.CredentialID, IsResidentCredential: c.IsResidentCredential, RpID: "localhost",
		PrivateKey: c.PrivateKey, UserHandle: c.UserHandle, SignCount: 0}
	_, err = chromedp.Call(ctx, addCredential, addCredentialParams{AuthenticatorID: auth, Credential: clone})
	brokertest.Must(t, err)

	brokertest.Must(t, chromedp.Do(ctx, chromedp.Navigate(w.TS.URL+web.StepUpURL("/account/security-keys")),
		bt.WaitTestID("step-up-button"), chromedp.Click(bt.Sel("step-up-button")),
		chromedp.WaitVisible(`[data-testid="webauthn-status"][data-state="failed"]`)))
	msg, err := bt.Text(ctx, "webauthn-status")
	brokertest.Must(t, err)
	if !strings.Contains(msg, "copied") {
		t.Errorf("the person was told %q", msg)
	}
	after := w.keys(t, alice)[0]
	if !after.CloneWarning || after.SignCount != before.SignCount || !after.LastUsedAt.Equal(before.LastUsedAt) {
		t.Errorf("key after the clone's use: %+v", after)
	}
	if len(w.Audited("session.stepped_up")) != 1 || len(w.Audited("securitykey.clone_warning")) != 1 {
		t.Error("want no second step-up and one clone warning audited")
	}
	brokertest.Must(t, chromedp.Do(ctx, chromedp.Navigate(w.TS.URL+"/account/security-keys"), bt.WaitTestID("security-key-clone-warning"),
		chromedp.Navigate(w.TS.URL+web.StepUpURL("/account")), bt.WaitTestID("step-up-no-keys")))
}
