package oauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestBrowserActForOnConsent: in headless Chromium, bob signs in to an
// application, chooses "Act for Alice" on the consent page, and the token
// response the application gets for the code carries sub = alice and
// act.sub = bob.
func TestBrowserActForOnConsent(t *testing.T) {
	t.Parallel()
	e := newActForEnv(t, brokertest.Options{})
	ctx := bt.New(t, 90*time.Second)
	d := e.give(t, e.alice, e.bob, "notes.read", "notes.write")

	var mu sync.Mutex
	var callback url.Values
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cb" {
			mu.Lock()
			callback = r.URL.Query()
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>RP</title><p data-testid="rp-done">back at the application</p>`))
	}))
	defer rp.Close()
	redirect := rp.URL + "/cb"
	secret, hash := registry.NewSecret()
	now := e.Clk.Now()
	brokertest.Must(t, e.DB.Clients().Create(context.Background(), store.Client{ID: "ward", Name: "Ward App", SecretHash: hash,
		RedirectURIs: []string{redirect}, GrantTypes: []string{registry.GrantAuthorizationCode, registry.GrantRefreshToken},
		Scopes: []string{"openid", "notes.read", "notes.write"}, DefaultAudience: brokertest.NotesAPI,
		TokenEndpointAuthMethod: registry.AuthSecretBasic, CreatedAt: now, UpdatedAt: now}))
	e.Secrets["ward"] = secret

	q := brokertest.NewAuthzReq("ward", redirect, "openid notes.read notes.write")
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.TS.URL+q.URL()),
		bt.WaitTestID("login-email"),
		chromedp.SendKeys(bt.Sel("login-email"), "bob@bob.example"),
		chromedp.Click(bt.Sel("login-submit")),
		bt.WaitTestID("consent-actfor"),
		chromedp.Click(bt.Sel("consent-actfor-"+d.ID)),
		chromedp.Click(bt.Sel("consent-approve")),
		bt.WaitTestID("rp-done"),
	)
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, e.Logs)
	}
	mu.Lock()
	code := callback.Get("code")
	mu.Unlock()
	st, tok := e.Redeem("ward", code, q.Verifier, redirect)
	if st != 200 {
		t.Fatalf("redeem: %d %v", st, tok)
	}
	if c := jwtClaims(t, tok["access_token"]); c["sub"] != e.alice || actOf(c) != e.bob || c["delegation_id"] != d.ID ||
		c["scope"] != "openid notes.read notes.write" {
		t.Errorf("access token %v", c)
	}
}
