package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// overflowing lists what sticks out past the viewport's right edge, to say
// in a failure which element needs the room.
const overflowing = `(() => { const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > window.innerWidth + 0.5 && r.width > 0) {
      out.push(el.tagName.toLowerCase() + (el.dataset.testid ? '[' + el.dataset.testid + ']' : '') + (el.className ? '.' + el.className : '') + ' ' + Math.round(r.right));
    }
  }
  return out.slice(0, 8).join(', '); })()`

// TestBrowserReflow320: WCAG 1.4.10 Reflow. Every kind of page — the sign-in
// chooser, consent, the account page and its confirmations, the delegated-access
// pages, an error page, the admin home and each of its lists and forms — is
// used at 320 CSS px wide without scrolling sideways
// (document.scrollingElement.scrollWidth <= window.innerWidth), and at 1280 px,
// with axe-core finding no WCAG 2.1 A/AA violation at either width. The data is
// long on purpose: a long app name, a long note, email addresses, scopes.
func TestBrowserReflow320(t *testing.T) {
	w := newWorld(t)
	w.AddSAML("college", "saml.example", true, brokertest.Carol())
	app := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprint(rw, `<!DOCTYPE html><html lang="en"><title>App</title><p data-testid="app-done">Signed in</p></html>`)
	}))
	t.Cleanup(app.Close)
	ctx := context.Background()
	now := w.Clk.Now()
	brokertest.Must(t, w.DB.Clients().Create(ctx, store.Client{ID: "portal", Name: "The Extraordinarily Long-Named Patient Portal",
		LogoURI: "https://portal.example/logo.png", RedirectURIs: []string{app.URL + "/oauth/callback"},
		GrantTypes: []string{registry.GrantAuthorizationCode}, Scopes: []string{"openid", "profile", "email", "notes.read"},
		DefaultAudience: notesAudience, TokenEndpointAuthMethod: registry.AuthSecretBasic, CreatedAt: now, UpdatedAt: now}))
	_, bobID := w.signIn("bob@uni.example")
	w.flush()

	browser := bt.New(t, 5*time.Minute)
	step := journeyStep(t, w.SigninEnv)
	authorize := "/oauth2/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"portal"},
		"redirect_uri": {app.URL + "/oauth/callback"}, "scope": {"openid profile email notes.read"},
		"state": {"s"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}.Encode()

	check := func(what string) {
		t.Helper()
		for _, width := range []int64{320, 1280} {
			brokertest.Must(t, chromedp.Do(browser, chromedp.EmulateViewport(width, 900)))
			scroll, err := chromedp.Run(browser, chromedp.Evaluate[bool](`document.scrollingElement.scrollWidth <= window.innerWidth`))
			brokertest.Must(t, err)
			if !scroll {
				out, _ := chromedp.Run(browser, chromedp.Evaluate[string](overflowing))
				sw, _ := chromedp.Run(browser, chromedp.Evaluate[int](`document.scrollingElement.scrollWidth`))
				t.Errorf("%s at %d px: the page is %d px wide; sticking out: %s", what, width, sw, out)
			}
			bt.Axe(t, browser)
		}
	}

	step(browser, "the sign-in chooser", chromedp.Navigate(w.TS.URL+"/login?return_to=/account"), bt.WaitTestID("login-email"))
	check("/login")
	step(browser, "sign in", chromedp.SendKeys(bt.Sel("login-email"), "alice@corp.example"), chromedp.Click(bt.Sel("login-submit")),
		bt.WaitTestID("account"))
	step(browser, "consent", chromedp.Navigate(w.TS.URL+authorize), bt.WaitTestID("consent-approve"))
	check("consent")
	step(browser, "approve", chromedp.Click(bt.Sel("consent-approve")), bt.WaitTestID("app-done"))
	aliceID := w.userID("alice@corp.example")
	brokertest.Must(t, w.DB.Delegations().Create(ctx, store.Delegation{ID: "d1", GrantorID: aliceID, GranteeUserID: bobID,
		Audience: notesAudience, Scopes: []string{"notes.read"}, CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour),
		Note: "While I am away: reading my notes for the quarterly review of the extraordinarily long project"}))

	for _, p := range []struct{ path, testID string }{
		{"/account", "account"},
		{"/account/apps/revoke?client=portal", "account-confirm"},
		{"/account/delegations", "main"},
		{"/account/delegations/new", "main"},
		{"/account/delegations/d1/revoke", "main"},
		{"/account/delegations/d1/activity", "main"},
		{"/admin", "chart-tokens"},
		{"/admin/providers", "admin-providers"},
		{"/admin/providers/new", "admin-provider-new"},
		{"/admin/providers/corp", "admin-provider-form"},
		{"/admin/providers/college", "provider-sp"},
		{"/admin/apps", "admin-apps"},
		{"/admin/apps/new", "admin-app-form"},
		{"/admin/apps/portal", "app-facts"},
		{"/admin/apis", "admin-apis"},
		{"/admin/apis/notes", "api-delete"},
		{"/admin/people?q=bob", "person-" + bobID},
		{"/admin/people/" + bobID, "admin-person"},
		{"/admin/audit", "audit-events"},
		{"/admin/providers/nobody", "error"},
		{"/logout", "main"},
	} {
		wait := bt.WaitTestID(p.testID)
		if p.testID == "main" {
			wait = chromedp.WaitVisible(chromedp.CSS("main"))
		}
		step(browser, p.path, chromedp.Navigate(w.TS.URL+p.path), wait)
		check(p.path)
	}
	sessions, err := w.DB.Sessions().ListForUser(ctx, aliceID)
	brokertest.Must(t, err)
	step(browser, "end confirmation", chromedp.Navigate(w.TS.URL+"/account/sessions/end?session="+sessions[0].ID), bt.WaitTestID("account-confirm"))
	check("end session confirmation")
}
