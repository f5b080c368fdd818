package signin_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/broker/store"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestBrowserRPInitiatedLogoutUpstream: in Chromium, an application's logout
// goes from the confirmation through the OIDC provider's end_session_endpoint,
// and then through a SAML IdP on another site, back to the application with its
// state. CSP form-action also governs the redirects after a form's submission,
// so the confirmation page brokertest.Must allow the providers and the application.
func TestBrowserRPInitiatedLogoutUpstream(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var returns []url.Values
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bye" {
			mu.Lock()
			returns = append(returns, r.URL.Query())
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>App</title><p data-testid="app-signed-out">signed out</p>`))
	}))
	t.Cleanup(app.Close)
	bye := app.URL + "/bye"
	e := brokertest.NewAuthzEnv(t, func(c *store.Client) { c.PostLogoutRedirectURIs = append(c.PostLogoutRedirectURIs, bye) })
	e.IdPOnLocalhost = true
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	ctx := bt.New(t, 90*time.Second)
	for _, c := range []struct {
		email string
		hits  func() int64
	}{{"alice@oidc.example", e.OIDC.LogoutHits.Load}, {"carol@saml.example", e.IdP.SLOHits.Load}} {
		mu.Lock()
		before := len(returns)
		mu.Unlock()
		logout := e.TS.URL + "/oauth2/logout?" + url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {bye},
			"state": {"st-" + c.email}}.Encode()
		err := chromedp.Do(ctx, append(signInInBrowser(e.SigninEnv, c.email),
			chromedp.Navigate(logout),
			bt.WaitTestID("rp-logout-confirm"),
			chromedp.Click(bt.Sel("rp-logout-confirm")),
			bt.WaitTestID("app-signed-out"))...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.email, err, e.Logs)
		}
		mu.Lock()
		got := returns[before:]
		mu.Unlock()
		if len(got) != 1 || got[0].Get("state") != "st-"+c.email || c.hits() == 0 || e.Sessions() != 0 {
			t.Errorf("%s: app returns %v, upstream visits %d, sessions %d", c.email, got, c.hits(), e.Sessions())
		}
	}
}
