package signin_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/providers/providertest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// hookAlert replaces alert, confirm and prompt in every document the browser
// opens with a counter, so a test sees whether injected script ran.
func hookAlert() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__alerts = 0; window.alert = window.confirm = window.prompt = function () { window.__alerts++; };`})
		return err
	})
}

const xssPayload = `"><script>alert(1)</script><img src=x onerror=alert(2)>'-alert(3)-'`

// TestWEB19_ReflectedParametersEscaped: login_hint, state, error_description
// and RelayState come from the URL or the IdP; where a page shows them they
// are escaped, and no script runs (window.alert hooked in headless Chromium).
func TestWEB19_ReflectedParametersEscaped(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	ctx := bt.New(t, 60*time.Second)
	if err := chromedp.Do(ctx, hookAlert()); err != nil {
		t.Fatal(err)
	}
	q := url.QueryEscape(xssPayload)
	check := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		alerts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__alerts`))
		if err != nil || alerts != 0 {
			t.Errorf("%s: %d alerts ran (%v)", name, alerts, err)
		}
		// The payload became no element: no inline script with it, no
		// element with an event handler.
		injected, err := chromedp.Run(ctx, chromedp.Evaluate[int](
			`[...document.scripts].filter(s => s.text.includes('alert')).length + document.querySelectorAll('[onerror]').length`))
		if err != nil || injected != 0 {
			t.Errorf("%s: %d injected elements (%v)", name, injected, err)
		}
	}
	// login_hint that matches no domain is shown back in the email box.
	check("login_hint", chromedp.Navigate(e.TS.URL+"/login?login_hint="+q+"&return_to="+q), bt.WaitTestID("login-email"))
	val, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="login-email"]').value`))
	if val != xssPayload {
		t.Errorf("login_hint shown as %q, want the raw text", val)
	}
	// A callback with a forged state and an error_description: error page.
	check("state", chromedp.Navigate(e.TS.URL+"/callback/corp?state="+q+"&error=access_denied&error_description="+q),
		bt.WaitTestID("error"))
	// The provider answers with an error and a hostile error_description.
	e.OIDC.Set(func(k *providertest.Knobs) {
		k.AuthorizeError, k.AuthorizeErrorDescription = "access_denied", xssPayload
	})
	check("error_description", chromedp.Navigate(e.TS.URL+"/login/corp?login_hint="+q), bt.WaitTestID("error"))
	// RelayState on an SLO request and the IdP-initiated path.
	check("RelayState", chromedp.Navigate(e.TS.URL+"/saml/uni/slo?SAMLRequest=x&RelayState="+q), bt.WaitTestID("error"))
}
