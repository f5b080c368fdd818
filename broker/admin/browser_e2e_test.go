package admin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestBrowserBootstrapAndCreateAPI: in headless Chromium, the bootstrap link
// leads through a sign-in to the confirmation, then the admin home, where the
// admin adds an API that is then listed.
func TestBrowserBootstrapAndCreateAPI(t *testing.T) {
	w := newWorld(t)
	link := w.bootstrapLink()
	ctx := bt.New(t, 90*time.Second)
	err := chromedp.Do(ctx,
		chromedp.Navigate(w.TS.URL+link),
		bt.WaitTestID("login-email"),
		chromedp.SendKeys(bt.Sel("login-email"), "bob@uni.example"),
		chromedp.Click(bt.Sel("login-submit")),
		bt.WaitTestID("bootstrap-confirm"),
		chromedp.Click(bt.Sel("bootstrap-confirm")),
		bt.WaitTestID("admin-home"),
		chromedp.Click(bt.Sel("admin-section-apis")+" a"),
		bt.WaitTestID("api-new"),
		chromedp.Click(bt.Sel("api-new")),
		bt.WaitTestID("api-name"),
		chromedp.SendKeys(bt.Sel("api-id"), "tasks"),
		chromedp.SendKeys(bt.Sel("api-name"), "Tasks"),
		chromedp.SendKeys(bt.Sel("api-audience"), "https://tasks.test"),
		chromedp.SendKeys(bt.Sel("api-scopes"), "tasks.read | Read your tasks"),
		chromedp.Click(bt.Sel("api-save")),
		bt.WaitTestID("api-tasks"),
	)
	if err != nil {
		t.Fatalf("%v\n%s", err, w.Logs)
	}
	name, _ := bt.Text(ctx, "admin-notice")
	if a := w.api("tasks"); a.Name != "Tasks" || len(a.Scopes) != 1 || name == "" {
		t.Fatalf("stored %+v, notice %q", a, name)
	}
}

// TestBrowserPeopleDisable: in headless Chromium, an admin signs in to the
// console, finds a person by name, opens their page, and disables them after
// the confirmation page says what that ends.
func TestBrowserPeopleDisable(t *testing.T) {
	w := newWorld(t)
	_, bobID := w.signIn("bob@uni.example")
	ctx := bt.New(t, 90*time.Second)
	err := chromedp.Do(ctx,
		chromedp.Navigate(w.TS.URL+"/login?return_to=/admin"),
		bt.WaitTestID("login-email"),
		chromedp.SendKeys(bt.Sel("login-email"), "alice@corp.example"),
		chromedp.Click(bt.Sel("login-submit")),
		bt.WaitTestID("admin-home"),
		chromedp.Click(bt.Sel("admin-section-people")+" a"),
		bt.WaitTestID("people-q"),
		chromedp.SendKeys(bt.Sel("people-q"), "bob"),
		chromedp.Click(bt.Sel("people-search")),
		bt.WaitTestID("person-"+bobID),
		chromedp.Click(bt.Sel("person-"+bobID)+" a"),
		bt.WaitTestID("person-disable"),
		chromedp.Click(bt.Sel("person-disable")),
		bt.WaitTestID("confirm-consequence"),
		chromedp.Click(bt.Sel("confirm")),
		bt.WaitTestID("person-enable"),
	)
	if err != nil {
		t.Fatalf("%v\n%s", err, w.Logs)
	}
	notice, _ := bt.Text(ctx, "admin-notice")
	if u := w.user(bobID); !u.Disabled || notice == "" {
		t.Fatalf("disabled %v, notice %q", u.Disabled, notice)
	}
}

// TestBrowserAuditLog: in headless Chromium, an admin signs in, sees the
// charts on the home, opens the audit log, filters by provider and outcome,
// and finds exactly the matching events, without JavaScript of ours.
func TestBrowserAuditLog(t *testing.T) {
	w := newWorld(t)
	w.seed(store.AuditEvent{Time: w.Clk.Now().Add(-time.Minute), Actor: "anonymous", Action: "signin.refused", Target: "corp"},
		store.AuditEvent{Time: w.Clk.Now().Add(-time.Minute), Actor: "anonymous", Action: "signin.refused", Target: "uni"})
	ctx := bt.New(t, 90*time.Second)
	err := chromedp.Do(ctx,
		chromedp.Navigate(w.TS.URL+"/admin"),
		bt.WaitTestID("login-email"),
		chromedp.SendKeys(bt.Sel("login-email"), "alice@corp.example"),
		chromedp.Click(bt.Sel("login-submit")),
		bt.WaitTestID("chart-signins"),
		bt.WaitTestID("chart-tokens"),
		chromedp.Click(bt.Sel("admin-section-audit")+" a"),
		bt.WaitTestID("audit-filter"),
		chromedp.SendKeys(chromedp.CSS("#audit-provider"), "corp"),
		chromedp.SetValue(chromedp.CSS("#audit-outcome"), "refusal"),
		chromedp.Click(bt.Sel("audit-apply")),
	)
	if err != nil {
		t.Fatalf("%v\n%s", err, w.Logs)
	}
	// The unfiltered page has the same list: wait until the filtered one has
	// loaded (an evaluation during the navigation fails; try again).
	for deadline := time.Now().Add(20 * time.Second); ; {
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
			`location.search.includes("outcome=refusal") && document.readyState === "complete"`))
		if err == nil && done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the filtered audit log did not load: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	err = chromedp.Do(ctx, bt.WaitTestID("audit-events"))
	if err != nil {
		t.Fatalf("%v\n%s", err, w.Logs)
	}
	url, err := chromedp.Run(ctx, chromedp.Location())
	brokertest.Must(t, err)
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid^="audit-event-"]').length`))
	brokertest.Must(t, err)
	if rows != 1 || !strings.Contains(url, "provider=corp") || !strings.Contains(url, "outcome=refusal") {
		t.Fatalf("%d events at %s, want the one refusal at corp", rows, url)
	}
}

// TestBrowserProviderCopyButtons: on a SAML provider's page, each Copy button
// selects its read-only field's whole text, with JavaScript (copy.js, which
// also copies it) and without (the button holds the value under
// user-select: all).
func TestBrowserProviderCopyButtons(t *testing.T) {
	w := newWorld(t)
	w.AddSAML("college", "saml.example", true, brokertest.Carol())
	for _, js := range []bool{true, false} {
		t.Run(map[bool]string{true: "with JavaScript", false: "without"}[js], func(t *testing.T) {
			ctx := bt.New(t, 90*time.Second)
			err := chromedp.Do(ctx,
				chromedp.Navigate(w.TS.URL+"/admin/providers/college"),
				bt.WaitTestID("login-email"),
				chromedp.SendKeys(bt.Sel("login-email"), "alice@corp.example"),
				chromedp.Click(bt.Sel("login-submit")),
				bt.WaitTestID("sp-acs"),
			)
			if err != nil {
				t.Fatalf("%v\n%s", err, w.Logs)
			}
			if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !js}); err != nil {
				t.Fatal(err)
			}
			brokertest.Must(t, chromedp.Do(ctx, chromedp.Reload(), bt.WaitTestID("sp-acs")))
			for _, id := range []string{"sp-acs", "sp-entity-id", "sp-metadata", "sp-cert"} {
				err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-copy="`+id+`"]`)))
				// Selected: the field's whole text (copy.js), or exactly the
				// value in the page's selection (no script).
				whole, err2 := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const f = document.getElementById("`+id+`");
					return f.value.length > 0 && ((document.activeElement === f && f.selectionStart === 0 && f.selectionEnd === f.value.length) ||
						window.getSelection().toString().trim() === f.value.trim()) })()`))
				if err != nil || err2 != nil || !whole {
					t.Errorf("%s: the Copy button did not select the field's text (%v %v)", id, err, err2)
				}
			}
		})
	}
}

// TestBrowserCreateAppShowsSecretOnce: in headless Chromium, an admin adds an
// app from the console's home; the page that answers shows its secret, which
// matches the stored hash, and the app's own page does not (ADM-12).
func TestBrowserCreateAppShowsSecretOnce(t *testing.T) {
	w := newWorld(t)
	ctx := bt.New(t, 90*time.Second)
	err := chromedp.Do(ctx,
		chromedp.Navigate(w.TS.URL+"/admin"),
		bt.WaitTestID("login-email"),
		chromedp.SendKeys(bt.Sel("login-email"), "alice@corp.example"),
		chromedp.Click(bt.Sel("login-submit")),
		bt.WaitTestID("admin-home"),
		chromedp.Click(bt.Sel("admin-section-apps")+" a"),
		bt.WaitTestID("app-new"),
		chromedp.Click(bt.Sel("app-new")),
		bt.WaitTestID("app-name"),
		chromedp.SendKeys(bt.Sel("app-id"), "portal"),
		chromedp.SendKeys(bt.Sel("app-name"), "Portal"),
		chromedp.SendKeys(bt.Sel("app-redirect-uris"), "https://portal.test/cb"),
		chromedp.Click(bt.Sel("app-save")),
		bt.WaitTestID("app-secret"),
	)
	if err != nil {
		t.Fatalf("%v\n%s", err, w.Logs)
	}
	secret, err := chromedp.Run(ctx, chromedp.Value(bt.Sel("app-secret")))
	brokertest.Must(t, err)
	brokertest.Must(t, chromedp.Do(ctx, chromedp.Navigate(w.TS.URL+"/admin/apps/portal"), bt.WaitTestID("app-secret-state")))
	appPage, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	brokertest.Must(t, err)
	if c := w.client("portal"); secret == "" || !registry.SecretMatches(c.SecretHash, secret) || c.Name != "Portal" {
		t.Fatalf("stored %+v, secret shown %t", c, secret != "")
	}
	noSecret(t, "the app's page", appPage, secret)
}
