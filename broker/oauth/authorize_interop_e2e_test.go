package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// openidClient prepares the Node harness (testdata/openid-client): npm ci when
// node_modules is missing. Without node and npm the test skips, except in CI.
func openidClient(t *testing.T) string {
	t.Helper()
	return testsupport.NPMCI(t, "testdata/openid-client", "openid-client")
}

// runRP runs one step of rp.mjs and decodes its JSON answer.
func runRP(t *testing.T, dir, caFile, step string, input map[string]any) map[string]any {
	t.Helper()
	in, _ := json.Marshal(input)
	cmd := exec.Command("node", "rp.mjs", step, string(in))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+caFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res map[string]any
	if jerr := json.Unmarshal(out, &res); jerr != nil || err != nil {
		t.Fatalf("rp.mjs %s: %v\n%s\n%s", step, err, out, stderr.String())
	}
	return res
}

// TestASPKCE06_InteropOpenIDClientBrowser: the certified openid-client 6.9.0, with its
// default strict checks, as the application; headless Chromium as the person.
// Discovery → authorization URL (PKCE S256, state, nonce) → Chromium: Gatehouse
// sign-in → the OIDC IdP → consent → back to the application's redirect URI →
// code grant (iss, state, nonce, ID token checked by the library) → UserInfo →
// refresh → introspection → revocation → reuse refused; then a silent
// re-authorization (prompt=none with the ID token as id_token_hint,
// oidcc-id-token-hint) that returns the same user without a page.
func TestASPKCE06_InteropOpenIDClientBrowser(t *testing.T) {
	dir := openidClient(t)
	ctx := bt.New(t, 90*time.Second)
	e := brokertest.NewAuthzEnv(t)

	var mu sync.Mutex
	var callbacks []string
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cb" {
			mu.Lock()
			callbacks = append(callbacks, r.URL.String())
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>RP</title><p data-testid="rp-done">back at the application</p>`))
	}))
	defer rp.Close()
	redirect := rp.URL + "/cb"
	secret, hash := registry.NewSecret()
	now := e.Clk.Now()
	oc := store.Client{ID: "oc", Name: "openid-client app", SecretHash: hash, RedirectURIs: []string{redirect},
		GrantTypes: []string{registry.GrantAuthorizationCode, registry.GrantRefreshToken},
		Scopes:     []string{"openid", "profile", "email", "notes.read", "notes.write", "admin"}, DefaultAudience: brokertest.NotesAPI,
		TokenEndpointAuthMethod: registry.AuthSecretBasic, CreatedAt: now, UpdatedAt: now}
	brokertest.Must(t, registry.ValidateClient(oc))
	brokertest.Must(t, e.DB.Clients().Create(context.Background(), oc))

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	brokertest.Must(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.TS.Certificate().Raw}), 0o600))
	in := map[string]any{"issuer": e.TS.URL, "clientId": "oc", "clientSecret": secret, "redirectUri": redirect,
		"scope": "openid profile email notes.read notes.write admin"}
	start := runRP(t, dir, caFile, "start", in)
	md, _ := start["metadata"].(map[string]any)
	if md["authorization_response_iss_parameter_supported"] != true {
		t.Fatalf("metadata %v", md)
	}

	err := chromedp.Do(ctx,
		chromedp.Navigate(start["url"].(string)),
		bt.WaitTestID("login-email"),
		chromedp.SendKeys(bt.Sel("login-email"), "alice@oidc.example"),
		chromedp.Click(bt.Sel("login-submit")),
		bt.WaitTestID("consent-approve"),
		chromedp.Click(bt.Sel("consent-approve")),
		bt.WaitTestID("rp-done"),
	)
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, e.Logs)
	}
	mu.Lock()
	cb := rp.URL + callbacks[len(callbacks)-1]
	mu.Unlock()
	if !strings.Contains(cb, "iss=") || !strings.Contains(cb, "code=") {
		t.Fatalf("callback %s", cb)
	}
	in["callbackUrl"], in["verifier"], in["state"], in["nonce"] = cb, start["verifier"], start["state"], start["nonce"]
	fin := runRP(t, dir, caFile, "finish", in)

	tokens, _ := fin["tokens"].(map[string]any)
	id, _ := fin["idClaims"].(map[string]any)
	ui, _ := fin["userinfo"].(map[string]any)
	if tokens["scope"] != "openid profile email notes.read notes.write" {
		t.Errorf("granted scope %v", tokens["scope"])
	}
	if id["iss"] != e.TS.URL || id["aud"] != "oc" || id["nonce"] != start["nonce"] || id["azp"] != "oc" || id["auth_time"] == nil || id["sub"] == "" {
		t.Errorf("id token claims %v", id)
	}
	if ui["sub"] != id["sub"] || ui["email"] != "alice@oidc.example" || ui["name"] != "Alice" {
		t.Errorf("userinfo %v", ui)
	}
	refreshed, _ := fin["refreshed"].(map[string]any)
	rid, _ := refreshed["idClaims"].(map[string]any)
	if refreshed["refresh_token"] == tokens["refresh_token"] || (rid != nil && (rid["sub"] != id["sub"] || rid["iss"] != id["iss"])) {
		t.Errorf("refresh: %v", refreshed)
	}
	if intro, _ := fin["introspected"].(map[string]any); intro["active"] != true {
		t.Errorf("introspection %v", intro)
	}
	if after, _ := fin["afterRevocation"].(map[string]any); after["active"] != false {
		t.Errorf("after revocation %v", after)
	}
	if fin["reuse"] != "invalid_grant" {
		t.Errorf("reuse of the first refresh token: %v", fin["reuse"])
	}

	in["extra"] = map[string]any{"prompt": "none", "id_token_hint": tokens["id_token"]}
	silent := runRP(t, dir, caFile, "start", in)
	if err := chromedp.Do(ctx, chromedp.Navigate(silent["url"].(string)), bt.WaitTestID("rp-done")); err != nil {
		t.Fatalf("silent re-authorization: %v\n%s", err, e.Logs)
	}
	mu.Lock()
	cb = rp.URL + callbacks[len(callbacks)-1]
	mu.Unlock()
	in["callbackUrl"], in["verifier"], in["state"], in["nonce"] = cb, silent["verifier"], silent["state"], silent["nonce"]
	again := runRP(t, dir, caFile, "code", in)
	if sid, _ := again["idClaims"].(map[string]any); sid["sub"] != id["sub"] || sid["nonce"] != silent["nonce"] {
		t.Errorf("silent re-authorization: id token %v, want sub %v", sid, id["sub"])
	}
}

// TestWEB12_ConsentNotFramable: a page on another origin that frames the consent
// page gets an empty frame (frame-ancestors 'none', X-Frame-Options DENY), so no
// click can be stolen from it.
func TestWEB12_ConsentNotFramable(t *testing.T) {
	ctx := bt.New(t, 60*time.Second)
	e := brokertest.NewAuthzEnv(t)
	// The browser signs in and reaches a consent page; its URL is the one framed.
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	q.Params.Set("login_hint", "alice@oidc.example")
	target := e.TS.URL + q.URL()
	if err := chromedp.Do(ctx, chromedp.Navigate(target), bt.WaitTestID("consent-approve")); err != nil {
		t.Fatalf("%v\n%s", err, e.Logs)
	}
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/ok" {
			w.Write([]byte(`<!doctype html><title>ok</title><p>frameable</p>`))
			return
		}
		// The consent page, and a frameable page as the positive control.
		w.Write([]byte(`<!doctype html><title>evil</title><iframe src="` + strings.ReplaceAll(target, "&", "&amp;") +
			`"></iframe><iframe src="/ok"></iframe>`))
	}))
	defer evil.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(evil.URL), chromedp.Sleep(time.Second)); err != nil {
		t.Fatal(err)
	}
	tree, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (*page.FrameTree, error) {
		res, err := cdp.Call(ctx, tg, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			return nil, err
		}
		return res.FrameTree, nil
	})
	brokertest.Must(t, err)
	var urls []string
	for _, f := range tree.ChildFrames {
		urls = append(urls, f.Frame.URL)
	}
	// A frame refused by frame-ancestors shows Chromium's error page, or is not
	// listed at all; the positive control is.
	if !slices.Contains(urls, evil.URL+"/ok") || slices.ContainsFunc(urls, func(u string) bool { return strings.HasPrefix(u, e.TS.URL) }) {
		t.Fatalf("frames %v", urls)
	}
}
