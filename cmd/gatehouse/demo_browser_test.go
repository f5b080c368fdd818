//go:build demo

package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
)

// TestDemoSignInBothWays is the newcomer's walk through `gatehouse demo` in
// headless Chromium: type a demo email on /login, pick who you are at the
// demo IdP, see the account page with the linked identity and the session,
// and sign out through the IdP; first with alice@oidc.example (OIDC), then
// with carol@saml.example (SAML). GATEHOUSE_DEMO_SCREENSHOT names a file for
// a PNG of the account page.
func TestDemoSignInBothWays(t *testing.T) {
	ctx := bt.New(t, 90*time.Second)
	dir := filepath.Join(t.TempDir(), "demo-data")
	env, _, _ := testEnv(nil)
	addr, stopDemo := startDemo(t, env, dir)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			if err := stopDemo(); err != nil {
				t.Errorf("demo shutdown: %v", err)
			}
		}
	}
	defer stop()
	_, port, _ := net.SplitHostPort(addr)
	base := "http://localhost:" + port

	for _, tc := range []struct {
		email, provider, name, roles string
	}{
		{"alice@oidc.example", "demo-oidc", "Alice Example", "admin"},
		{"carol@saml.example", "demo-saml", "Carol Example", "teacher"},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			err := chromedp.Do(ctx,
				chromedp.EmulateViewport(1100, 900),
				chromedp.Navigate(base+"/login"),
				bt.WaitTestID("login-email"),
				chromedp.SendKeys(bt.Sel("login-email"), tc.email),
				chromedp.Click(bt.Sel("login-submit")),
				bt.WaitTestID("pick-0"), // the demo IdP's "pick who you are"
				chromedp.Click(bt.Sel("pick-0")),
				bt.WaitTestID("account"),
			)
			if err != nil {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				t.Fatalf("sign-in as %s: %v (at %s)", tc.email, err, loc)
			}
			name, _ := bt.Text(ctx, "account-name")
			email, _ := bt.Text(ctx, "account-email")
			roles, _ := bt.Text(ctx, "account-roles")
			identity, _ := bt.Text(ctx, "identity-"+tc.provider)
			sessions, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="session-row"][data-current="true"]').length`))
			if name != tc.name || email != tc.email || !strings.Contains(roles, tc.roles) || !strings.Contains(identity, tc.email) || sessions != 1 {
				t.Errorf("account page: name %q email %q roles %q identity %q current sessions %d", name, email, roles, identity, sessions)
			}
			if path := os.Getenv("GATEHOUSE_DEMO_SCREENSHOT"); path != "" && tc.provider == "demo-oidc" {
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err == nil {
					err = os.WriteFile(path, png, 0o644)
				}
				if err != nil {
					t.Errorf("screenshot: %v", err)
				}
			}
			// Sign out: the IdP's logout answers and the signed-out page says
			// nothing went wrong upstream.
			err = chromedp.Do(ctx, chromedp.Click(bt.Sel("account-logout")), bt.WaitTestID("signed-out"))
			if err != nil {
				t.Fatalf("logout: %v", err)
			}
			note, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="signed-out-note"]').length`))
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			if note != 0 || !strings.HasPrefix(loc, base+"/") {
				t.Errorf("after logout at %s: the IdP did not confirm the sign-out", loc)
			}
		})
	}
	stop()
	db, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	users, _ := db.Count(context.Background(), "users")
	sessions, _ := db.Count(context.Background(), "sessions")
	if users != 2 || sessions != 0 {
		t.Errorf("after both walks: users %d (want 2), sessions %d (want 0)", users, sessions)
	}
}
