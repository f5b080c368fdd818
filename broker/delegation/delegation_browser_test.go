package delegation_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
)

// TestBrowserGiveAndRevoke: in headless Chromium, at a phone's 320 px and a
// desktop's 1280 px, alice gives Dr Lee access through the review step and
// revokes it, without JavaScript of ours, and no page scrolls sideways.
func TestBrowserGiveAndRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, width := range []int64{320, 1280} {
		ctx := bt.New(t, 90*time.Second)
		fits := func(page string) {
			t.Helper()
			if width == 1280 {
				bt.Axe(t, ctx) // accessible too (issue 13); colours and labels do not depend on the width
			}
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
			if err != nil || !ok {
				w, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
				t.Errorf("%d px: the %s page scrolls sideways (scrollWidth %d): %v", width, page, w, err)
			}
		}
		step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
			t.Helper()
			if err := chromedp.Do(ctx, actions...); err != nil {
				html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
				t.Fatalf("%d px, %s: %v\n%s\n%s", width, what, err, html, e.Logs)
			}
		}
		step("sign in", chromedp.EmulateViewport(width, 900),
			chromedp.Navigate(e.TS.URL+"/login"), bt.WaitTestID("login-email"),
			chromedp.SendKeys(bt.Sel("login-email"), "alice@oidc.example"), chromedp.Click(bt.Sel("login-submit")),
			bt.WaitTestID("account"))
		step("open delegated access", chromedp.Click(bt.Sel("account-delegations-link")), bt.WaitTestID("delegations"))
		fits("delegations")
		step("open give access", chromedp.Click(bt.Sel("give-access-link")), bt.WaitTestID("give-form"))
		fits("give-access")
		step("fill in and review", chromedp.SendKeys(bt.Sel("give-email"), "lee@lee.example"),
			chromedp.Click(bt.Sel("give-scope-notes.read")), chromedp.Click(bt.Sel("give-for-72h0m0s")),
			chromedp.Click(bt.Sel("give-review")), bt.WaitTestID("give-review-page"))
		fits("review")
		summary, _ := bt.Text(ctx, "give-summary")
		if !strings.HasPrefix(summary, "Dr Lee will be able to read your notes in Notes API until ") {
			t.Errorf("%d px: summary %q", width, summary)
		}
		step("confirm", chromedp.Click(bt.Sel("give-confirm")), bt.WaitTestID("delegations-notice"))
		fits("delegations after giving")
		given := 0
		for _, d := range e.delegations() {
			if d.RevokedAt.IsZero() {
				given++
			}
		}
		if given != 1 {
			t.Fatalf("%d px: %d active delegations after giving, want 1", width, given)
		}
		step("revoke", chromedp.Click(bt.Sel("delegation-revoke")), bt.WaitTestID("delegation-confirm"))
		fits("revoke confirmation")
		step("confirm revoke", chromedp.Click(bt.Sel("confirm-revoke")), bt.WaitTestID("delegations-notice"))
		fits("delegations after revoking")
		notice, _ := bt.Text(ctx, "delegations-notice")
		if !strings.Contains(notice, "Dr Lee can no longer use your access to Notes API") {
			t.Errorf("%d px: notice %q", width, notice)
		}
	}
	l := e.delegations()
	if len(l) != 2 {
		t.Fatalf("%d delegations, want 2", len(l))
	}
	for _, d := range l {
		if d.RevokedAt.IsZero() {
			t.Errorf("not revoked: %+v", d)
		}
	}
}
