package oauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestBrowserWelshPages: in headless Chromium whose language is Welsh
// (Accept-Language: cy), at a phone's 320 px and a desktop's 1280 px, the
// sign-in, consent, account, security keys (WebAuthn needs a domain name, so
// Gatehouse is at localhost), device (RFC 8628 §3.3) and an error page are in
// Welsh with <html lang="cy">, none scrolls sideways (Welsh runs longer than English), and
// axe-core finds no violation on any of them.
func TestBrowserWelshPages(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnvWith(t, brokertest.Options{PlainLocalhost: true})
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid profile notes.read admin")
	for _, width := range []int64{320, 1280} {
		ctx := bt.New(t, 90*time.Second)
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": "cy-GB,cy;q=0.9"}}); err != nil {
			t.Fatal(err)
		}
		check := func(page, testID, welsh string) {
			t.Helper()
			bt.Axe(t, ctx)
			lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
			if err != nil || lang != "cy" {
				t.Errorf("%d px, %s: <html lang=%q> (%v)", width, page, lang, err)
			}
			if text, _ := bt.Text(ctx, testID); !strings.Contains(text, welsh) {
				t.Errorf("%d px, %s: %q lacks %q", width, page, text, welsh)
			}
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
			if err != nil || !ok {
				t.Errorf("%d px: the %s page scrolls sideways (%v)", width, page, err)
			}
		}
		step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
			t.Helper()
			if err := chromedp.Do(ctx, actions...); err != nil {
				html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
				t.Fatalf("%d px, %s: %v\n%s\n%s", width, what, err, html, e.Logs)
			}
		}
		step("sign-in page", chromedp.EmulateViewport(width, 900), chromedp.Navigate(e.TS.URL+"/login"), bt.WaitTestID("login-email"))
		check("sign-in", "login", "Mewngofnodi")
		step("sign in", chromedp.SendKeys(bt.Sel("login-email"), "alice@oidc.example"), chromedp.Click(bt.Sel("login-submit")), bt.WaitTestID("account"))
		check("account", "account", "Eich cyfrif")
		step("consent page", chromedp.Navigate(e.TS.URL+q.URL()), bt.WaitTestID("consent"))
		check("consent", "consent", "eisiau cael mynediad i’ch cyfrif")
		step("security keys page", chromedp.Navigate(e.TS.URL+"/account/security-keys"), bt.WaitTestID("security-keys"))
		check("security keys", "security-key-add", "Ychwanegu allwedd ddiogelwch neu allwedd mynediad")
		step("device page", chromedp.Navigate(e.TS.URL+"/device"), bt.WaitTestID("device"))
		check("device", "device", "Rhowch y cod a ddangosir ar y ddyfais")
		step("error page", chromedp.Navigate(e.TS.URL+"/nothing-here"), bt.WaitTestID("error"))
		check("error", "error", "Heb ddod o hyd i’r dudalen")
	}
}
