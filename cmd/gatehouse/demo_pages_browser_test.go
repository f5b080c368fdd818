//go:build demo

package main

import (
	"context"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
)

// TestDemoPagesExplainThemselves walks the pages a newcomer to `gatehouse
// demo` sees first in headless Chromium, at a phone's 320 px and a desktop's
// 1280 px (issue 13, "Demo"): the start page in demo mode says what this is,
// links the demo app and introduces the demo people; the demo IdPs' pick
// pages (OIDC and SAML), and the demo app signed out, signed in, introspecting
// and refused. Each page has no axe-core violations (light and dark) and no
// sideways scrolling; the demo app shows times as dates and errors as
// sentences; alice, the admin-role demo person, reaches the admin console.
func TestDemoPagesExplainThemselves(t *testing.T) {
	ctx := bt.New(t, 3*time.Minute)
	env, out, _ := testEnv(nil)
	addr, stop := startDemo(t, env, filepath.Join(t.TempDir(), "demo-data"))
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("demo shutdown: %v", err)
		}
	}()
	_, port, _ := net.SplitHostPort(addr)
	base := "http://localhost:" + port
	m := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/ +the demo app`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("banner does not name the demo app:\n%s", out)
	}
	appURL := m[1]

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		// Each step in its own time, so a failure leaves time to show the page.
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
			t.Fatalf("%s: %v (at %s)\n%s", what, err, loc, body)
		}
	}
	text := func(id string) string {
		t.Helper()
		s, err := bt.Text(ctx, id)
		if err != nil {
			t.Fatalf("text of %s: %v", id, err)
		}
		return s
	}
	// check runs axe-core and the sideways-scroll check on the page shown, at
	// both widths, and leaves the desktop width set.
	check := func(page string) {
		t.Helper()
		for _, w := range []int64{320, 1280} {
			step(page+" at "+strconv.FormatInt(w, 10)+" px", chromedp.EmulateViewport(w, 900))
			bt.Axe(t, ctx)
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
			if err != nil || !ok {
				sw, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
				t.Errorf("%s at %d px scrolls sideways (scrollWidth %d): %v", page, w, sw, err)
			}
		}
	}

	// The start page in demo mode.
	step("start page", chromedp.Navigate(base+"/"), bt.WaitTestID("demo-intro"))
	check("the start page")
	intro := text("demo-intro")
	for _, want := range []string{"This is the Gatehouse demo", "alice@oidc.example", "admin console", "bob@oidc.example",
		"carol@saml.example", "SAML", "dave@saml.example"} {
		if !strings.Contains(intro, want) {
			t.Errorf("the start page's demo section does not say %q:\n%s", want, intro)
		}
	}
	href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="demo-app-link"]').href`))
	if href != appURL+"/" {
		t.Errorf("the start page links the demo app at %q, want %q", href, appURL+"/")
	}

	// The demo app, signed out, and a sign-in answer it did not ask for.
	step("demo app", chromedp.Navigate(appURL+"/"), bt.WaitTestID("demo-signin"))
	check("the demo app's start")
	step("demo app, unknown answer", chromedp.Navigate(appURL+"/callback?state=forged&code=x"), bt.WaitTestID("demo-error"))
	check("the demo app's error")
	if s := text("demo-error-message"); !isSentence(s) || strings.Contains(s, "mismatch") {
		t.Errorf("the demo app's error reads %q", s)
	}

	// The OIDC IdP's pick page, then Gatehouse's consent: denied, the demo
	// app says so in words.
	signIn := func(email string) {
		t.Helper()
		step("sign in at the demo app as "+email, chromedp.Navigate(appURL+"/login?switch=1"),
			bt.WaitTestID("login-email"), chromedp.SendKeys(bt.Sel("login-email"), email), chromedp.Click(bt.Sel("login-submit")),
			bt.WaitTestID("pick-0"))
	}
	signIn("alice@oidc.example")
	check("the demo OIDC IdP's pick page")
	step("alice denies", chromedp.Click(bt.Sel("pick-0")), bt.WaitTestID("consent-deny"), chromedp.Click(bt.Sel("consent-deny")),
		bt.WaitTestID("demo-error"))
	check("the demo app's refusal")
	if s := text("demo-error-message"); !strings.HasPrefix(s, "You did not allow the demo app") {
		t.Errorf("after denying, the demo app says %q", s)
	}

	// Approved: the tokens' times are dates, and introspection is a sentence.
	step("alice approves", chromedp.Click(bt.Sel("demo-signin")), bt.WaitTestID("consent-approve"),
		chromedp.Click(bt.Sel("consent-approve")), bt.WaitTestID("demo-access"))
	check("the demo app signed in")
	exp, _ := chromedp.Run(ctx, chromedp.Evaluate[string](
		`(document.querySelector('[data-testid="demo-access"] time') || {}).textContent || ""`))
	if !regexp.MustCompile(`^\d{1,2} \w+ \d{4}, \d\d:\d\d UTC$`).MatchString(exp) {
		t.Errorf("the access token's first time claim reads %q, want a date", exp)
	}
	step("introspect", chromedp.Click(bt.Sel("demo-introspect")), bt.WaitTestID("demo-introspection-summary"))
	check("the demo app's introspection")
	if s := text("demo-introspection-summary"); !strings.HasPrefix(s, "Active:") {
		t.Errorf("introspection reads %q", s)
	}

	// alice is the admin-role demo person: the admin console lets her in
	// (after the fresh sign-in it asks for, ADM-05).
	step("alice opens the admin console", chromedp.Navigate(base+"/admin"))
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`[data-testid="pick-0"], [data-testid="admin-home"]`)); err != nil {
		t.Fatalf("admin console: %v", err)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="pick-0"]').length`)); n == 1 {
		step("alice signs in afresh", chromedp.Click(bt.Sel("pick-0")))
	}
	step("the admin console", bt.WaitTestID("admin-home"))

	// The SAML IdP's pick page.
	signIn("carol@saml.example")
	check("the demo SAML IdP's pick page")
	if s := text("pick-0"); s != "Carol Example (carol@saml.example)" {
		t.Errorf("the SAML IdP offers %q", s)
	}
}

// isSentence: starts with a capital letter and ends with a full stop.
func isSentence(s string) bool {
	return regexp.MustCompile(`^[A-Z].*[.!]$`).MatchString(strings.TrimSpace(s))
}
