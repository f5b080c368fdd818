package signin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// signInInBrowser types email on Gatehouse's sign-in page and waits for the
// account page.
func signInInBrowser(e *brokertest.SigninEnv, email string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(e.TS.URL + "/login"),
		bt.WaitTestID("login-email"),
		chromedp.SendKeys(bt.Sel("login-email"), email),
		chromedp.Click(bt.Sel("login-submit")),
		bt.WaitTestID("account"),
	}
}

func TestBrowserSignInOIDC(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	claims := brokertest.AliceClaims()
	claims["name"] = `<img src=x onerror="window.__xss=1">Alice` // WEB-16: escaped, never run
	e.AddOIDC("corp", "oidc.example", false, claims)
	ctx := bt.New(t, 60*time.Second)
	if err := chromedp.Do(ctx, signInInBrowser(e, "alice@oidc.example")...); err != nil {
		t.Fatalf("%v\n%s", err, e.Logs)
	}
	bt.Axe(t, ctx)
	name, _ := bt.Text(ctx, "account-name")
	email, _ := bt.Text(ctx, "account-email")
	xss, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__xss === 1`))
	if name != claims["name"] || email != "alice@oidc.example" || xss {
		t.Errorf("name %q email %q xss ran %v", name, email, xss)
	}
	// Logout reaches the OP's end_session_endpoint and ends at the signed-out page.
	if err := chromedp.Do(ctx, chromedp.Click(bt.Sel("account-logout")), bt.WaitTestID("signed-out")); err != nil {
		t.Fatal(err)
	}
	bt.Axe(t, ctx)
	if e.OIDC.LogoutHits.Load() != 1 || e.Sessions() != 0 {
		t.Errorf("upstream logout hits %d, sessions %d", e.OIDC.LogoutHits.Load(), e.Sessions())
	}
}

// TestWEB09_BrowserSignInSAMLPostBinding signs in through a SAML IdP on another
// site: its auto-posted response reaches the ACS cross-site, which works only
// because the flow cookie is SameSite=None; Secure, while the session cookie
// stays Lax. Logout then reaches the IdP's SLO endpoint.
func TestWEB09_BrowserSignInSAMLPostBinding(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.IdPOnLocalhost = true
	s := brokertest.Carol()
	s.UserCommonName = `<script>window.__xss=1</script>Carol` // WEB-20 / SAML-51
	s.UserEmail = s.NameID
	e.AddSAML("uni", "saml.example", false, s)
	ctx := bt.New(t, 60*time.Second)
	if err := chromedp.Do(ctx, signInInBrowser(e, "carol@saml.example")...); err != nil {
		t.Fatalf("%v (sessions %d)\n%s", err, e.Sessions(), e.Logs)
	}
	email, _ := bt.Text(ctx, "account-email")
	page, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	xss, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__xss === 1`))
	if email != "carol@saml.example" || xss || strings.Contains(page, "<script>window.__xss") {
		t.Errorf("email %q xss %v", email, xss)
	}
	if err := chromedp.Do(ctx, chromedp.Click(bt.Sel("account-logout")), bt.WaitTestID("signed-out")); err != nil {
		t.Fatal(err)
	}
	if e.IdP.SLOHits.Load() == 0 || e.Sessions() != 0 {
		t.Errorf("SLO hits %d, sessions %d", e.IdP.SLOHits.Load(), e.Sessions())
	}
}
