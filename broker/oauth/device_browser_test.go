package oauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
)

// TestBrowserDeviceFlow: RFC 8628 end to end. The device (real HTTP polling)
// gets authorization_pending; in headless Chromium the person opens
// verification_uri_complete, signs in through the upstream OIDC IdP, finds the
// code filled in but must still submit it, confirms on a page that names the
// app (§5.4); the device's next poll returns tokens whose sub is that person.
// The three device pages pass axe-core in both colour schemes.
func TestBrowserDeviceFlow(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t)
	ctx := bt.New(t, 90*time.Second)
	dc, uc, body := e.authorize(t, "cli", "openid notes.read")
	st, out := e.poll(t, "cli", dc)
	wantDeviceError(t, st, out, "authorization_pending")

	err := chromedp.Do(ctx,
		chromedp.Navigate(body["verification_uri_complete"].(string)),
		bt.WaitTestID("login-email"),
		chromedp.SendKeys(bt.Sel("login-email"), "alice@oidc.example"),
		chromedp.Click(bt.Sel("login-submit")),
		bt.WaitTestID("device-form"),
	)
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, e.Logs)
	}
	prefilled, err := chromedp.Run(ctx, chromedp.Value(bt.Sel("device-code")))
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, e.Logs)
	}
	if prefilled != uc {
		t.Fatalf("code field %q, want %q", prefilled, uc)
	}
	bt.Axe(t, ctx)
	// Nothing is decided by opening the link.
	e.Clk.Add(6 * time.Second)
	st, out = e.poll(t, "cli", dc)
	wantDeviceError(t, st, out, "authorization_pending")

	err = chromedp.Do(ctx,
		chromedp.Click(bt.Sel("device-submit")),
		bt.WaitTestID("device-confirm"),
	)
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, e.Logs)
	}
	client, err := bt.Text(ctx, "device-client")
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, e.Logs)
	}
	if client != "Ward Terminal CLI" {
		t.Errorf("confirmation names %q", client)
	}
	bt.Axe(t, ctx)
	err = chromedp.Do(ctx,
		chromedp.Click(bt.Sel("device-approve")),
		bt.WaitTestID("device-done"),
	)
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, e.Logs)
	}
	bt.Axe(t, ctx)

	e.Clk.Add(6 * time.Second)
	st, tok := e.poll(t, "cli", dc)
	if st != 200 {
		t.Fatalf("tokens: %d %v", st, tok)
	}
	if c := jwtClaims(t, tok["access_token"]); c["sub"] != e.aliceID(t) || !strings.Contains(c["scope"].(string), "notes.read") {
		t.Errorf("access token %v", c)
	}
}
