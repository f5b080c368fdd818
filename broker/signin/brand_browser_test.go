package signin_test

import (
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestBrowserBrandColours: in Chromium, the configured primary colour is the
// buttons' colour in the light scheme and its dark variant in the dark scheme
// (so /brand.css loaded under the CSP), and axe-core finds no violation in
// either scheme on the sign-in and account pages.
func TestBrowserBrandColours(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{Settings: map[string]string{"GATEHOUSE_BRAND_NAME": "Health Board",
		"GATEHOUSE_BRAND_COLOR": "#005eb8", "GATEHOUSE_BRAND_COLOR_DARK": "#41b6e6", "GATEHOUSE_SUPPORT_CONTACT": "help@hb.example"}})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	ctx := bt.New(t, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(e.TS.URL+"/login"), bt.WaitTestID("login-email")); err != nil {
		t.Fatal(err)
	}
	for scheme, want := range map[string]string{"light": "rgb(0, 94, 184)", "dark": "rgb(65, 182, 230)"} {
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			`getComputedStyle(document.querySelector('[data-testid="login-submit"]')).backgroundColor`))
		if err != nil || got != want {
			t.Errorf("%s scheme: the button is %q (%v), want %s", scheme, got, err, want)
		}
	}
	bt.Axe(t, ctx)
	if err := chromedp.Do(ctx, signInInBrowser(e, "alice@oidc.example")...); err != nil {
		t.Fatalf("%v\n%s", err, e.Logs)
	}
	bt.Axe(t, ctx)
	if s, _ := bt.Text(ctx, "support"); s != "Need help? Contact help@hb.example." {
		t.Errorf("support contact %q", s)
	}
}
