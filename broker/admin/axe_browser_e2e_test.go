package admin_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestBrowserAxeAdminConsole: axe-core finds no WCAG 2.1 A/AA violation, in the
// light or the dark colour scheme, on any page of the admin console — each
// section's list, forms, confirmations and results, a form with problems, a
// stale edit, the bootstrap page, an error page — nor on the account page.
// (TestBrowserAdminJourney checks the pages it passes: sign-in, consent, the
// discovery and metadata steps, a new app's secret, the filtered audit log.)
func TestBrowserAxeAdminConsole(t *testing.T) {
	w := newWorld(t)
	w.AddSAML("college", "saml.example", true, brokertest.Carol())
	_, bobID := w.signIn("bob@uni.example")
	brokertest.Must(t, w.ops().GrantRole(t.Context(), opsActor, bobID, "staff"))
	w.seed(store.AuditEvent{Time: w.Clk.Now().Add(-time.Hour), Actor: "anonymous", Action: "signin.refused", Target: "corp"},
		store.AuditEvent{Time: w.Clk.Now().Add(-time.Hour), Actor: "client:svc", Action: "oauth.rejected", Target: "/oauth2/token"})
	w.flush()
	link := w.bootstrapLink() // alice is admin by corp's role rules, not granted: the link still works

	ctx := bt.New(t, 4*time.Minute)
	step := journeyStep(t, w.SigninEnv)
	step(ctx, "sign in", chromedp.Navigate(w.TS.URL+"/login?return_to=/account"), bt.WaitTestID("login-email"),
		chromedp.SendKeys(bt.Sel("login-email"), "alice@corp.example"), chromedp.Click(bt.Sel("login-submit")),
		bt.WaitTestID("account"))
	bt.Axe(t, ctx)

	for _, p := range []struct{ path, testID string }{
		{"/admin", "chart-tokens"},
		{"/admin/providers", "admin-providers"},
		{"/admin/providers/new", "admin-provider-new"},
		{"/admin/providers/corp", "admin-provider-form"},
		{"/admin/providers/college", "provider-sp"},
		{"/admin/providers/corp/disable", "admin-confirm"},
		{"/admin/providers/corp/delete", "admin-confirm"},
		{"/admin/apps", "admin-apps"},
		{"/admin/apps/new", "admin-app-form"},
		{"/admin/apps/svc", "app-facts"},
		{"/admin/apps/svc/rotate-secret", "admin-app-rotate"},
		{"/admin/apps/svc/delete", "admin-confirm"},
		{"/admin/apis", "admin-apis"},
		{"/admin/apis/new", "admin-api-form"},
		{"/admin/apis/notes", "api-delete"},
		{"/admin/apis/notes/delete", "admin-confirm"},
		{"/admin/people?q=bob", "person-" + bobID},
		{"/admin/people/" + bobID, "admin-person"},
		{"/admin/people/" + bobID + "/disable", "confirm-consequence"},
		{"/admin/people/" + bobID + "/sign-out", "confirm-consequence"},
		{"/admin/people/" + bobID + "/roles/staff/revoke", "admin-confirm"},
		{"/admin/audit", "audit-events"},
		{"/admin/audit?provider=corp&outcome=refusal", "audit-refusal"},
		{"/admin/audit?since=yesterday", "audit-problems"},
		{"/admin/providers/nobody", "error"},
		{link, "admin-bootstrap"},
	} {
		step(ctx, p.path, chromedp.Navigate(w.TS.URL+p.path), bt.WaitTestID(p.testID))
		bt.Axe(t, ctx)
	}

	// Results and answers to forms: a test sign-in, a rotated secret, a form
	// with problems, a stale edit (DATA-11).
	step(ctx, "test sign-in", chromedp.Navigate(w.TS.URL+"/admin/providers/uni"), bt.WaitTestID("provider-test"),
		chromedp.Click(bt.Sel("provider-test")), bt.WaitTestID("test-identity"))
	bt.Axe(t, ctx)
	step(ctx, "rotate a secret", chromedp.Navigate(w.TS.URL+"/admin/apps/svc/rotate-secret"), bt.WaitTestID("confirm"),
		chromedp.Click(bt.Sel("confirm")), bt.WaitTestID("app-secret"))
	bt.Axe(t, ctx)
	step(ctx, "an app with problems", chromedp.Navigate(w.TS.URL+"/admin/apps/new"), bt.WaitTestID("app-redirect-uris"),
		chromedp.SendKeys(bt.Sel("app-redirect-uris"), "not a URL"), chromedp.Click(bt.Sel("app-save")),
		bt.WaitTestID("app-problems"))
	bt.Axe(t, ctx)
	step(ctx, "open uni to edit", chromedp.Navigate(w.TS.URL+"/admin/providers/uni"), bt.WaitTestID("provider-name"))
	other, _ := w.signIn("alice@corp.example") // another of alice's sessions saves first
	_, page := w.page(other, "/admin/providers/uni")
	if res, _ := w.submit(other, page, "/admin/providers/uni", url.Values{"name": {"First"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first save: %d", res.StatusCode)
	}
	step(ctx, "a stale edit", chromedp.SendKeys(bt.Sel("provider-name"), " edited"), chromedp.Click(bt.Sel("provider-save")),
		bt.WaitTestID("provider-conflict"))
	bt.Axe(t, ctx)
}
