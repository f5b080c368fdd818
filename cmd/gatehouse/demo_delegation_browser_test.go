//go:build demo

package main

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// readmeDelegationMarker is the first line of README.md's introspection line in
// "Delegation in the demo".
const readmeDelegationMarker = "# delegation-demo:"

// TestDemoDelegationWalkThrough is README's "Delegation in the demo" in two
// headless Chromium profiles against `gatehouse demo` (issue 11, "Done when"):
// alice gives bob read access to her notes through the review step; bob, in the
// demo app, chooses "Act for Alice" on the consent page and the app shows a
// token with sub = alice and act.sub = bob (RFC 8693 §4.1); alice sees the use
// on the Activity page and revokes; at once the token is inactive when the
// Notes API's resource server (demo-service, exchange.env) introspects it, the
// demo app's introspection says so and its refresh is refused, with nothing
// issued under the delegation after the revocation; README's curl line says
// the same. The delegation pages are
// also checked at a phone's 320 px for sideways scrolling. With
// GATEHOUSE_SCREENSHOTS=dir it writes README's screenshots (900 px wide) there.
func TestDemoDelegationWalkThrough(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo-data")
	env, out, _ := testEnv(nil)
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
	m := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/ +the demo app`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("banner does not name the demo app:\n%s", out)
	}
	appURL := m[1]
	if !strings.Contains(out.String(), base+"/account/delegations") {
		t.Errorf("banner does not point at delegated access:\n%s", out)
	}
	vars := readExchangeEnv(t, dir)
	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")

	alice, bob := bt.New(t, 3*time.Minute), bt.New(t, 3*time.Minute)
	step := func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
			t.Fatalf("%s: %v (at %s)\n%s", what, err, loc, body)
		}
	}
	text := func(ctx context.Context, id string) string {
		t.Helper()
		s, err := bt.Text(ctx, id)
		if err != nil {
			t.Fatalf("text of %s: %v", id, err)
		}
		return s
	}
	// fits checks a delegation page at a phone's and the screenshots' width.
	fits := func(page string) {
		t.Helper()
		for _, w := range []int64{320, 900} {
			err := chromedp.Do(alice, chromedp.EmulateViewport(w, 800))
			ok := false
			if err == nil {
				ok, err = chromedp.Run(alice, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
			}
			if err != nil || !ok {
				sw, _ := chromedp.Run(alice, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
				t.Errorf("%d px: the %s page scrolls sideways (scrollWidth %d): %v", w, page, sw, err)
			}
		}
	}
	shot := func(ctx context.Context, name string, full bool) {
		t.Helper()
		if shots == "" {
			return
		}
		a := chromedp.CaptureScreenshot()
		if full {
			a = chromedp.FullScreenshot(100) // 100: PNG
		}
		png, err := chromedp.Run(ctx, a)
		if err == nil {
			err = os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
	signInAtApp := func(ctx context.Context, email, pick string) {
		t.Helper()
		step(ctx, "sign in to the demo app as "+email, chromedp.EmulateViewport(900, 800),
			chromedp.Navigate(appURL+"/"), bt.WaitTestID("demo-signin"), chromedp.Click(bt.Sel("demo-signin")),
			bt.WaitTestID("login-email"), chromedp.SendKeys(bt.Sel("login-email"), email), chromedp.Click(bt.Sel("login-submit")),
			bt.WaitTestID(pick), chromedp.Click(bt.Sel(pick)))
	}

	// 1. Bob signs in to the demo app once, as himself: access can be given
	// only to someone Gatehouse knows.
	signInAtApp(bob, "bob@oidc.example", "pick-1")
	step(bob, "bob approves as himself", bt.WaitTestID("consent-approve"), chromedp.Click(bt.Sel("consent-approve")),
		bt.WaitTestID("demo-access"))
	if n, _ := chromedp.Run(bob, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="demo-acting"]').length`)); n != 0 {
		t.Errorf("bob's own sign-in says it acts for someone")
	}
	// The demo app's buttons while access holds: a refresh gives new tokens
	// and introspection says active.
	step(bob, "bob refreshes his own tokens", chromedp.Click(bt.Sel("demo-refresh")), bt.WaitTestID("demo-refreshed"),
		chromedp.Click(bt.Sel("demo-introspect")), bt.WaitTestID("demo-introspection"))
	if s := text(bob, "demo-introspection-summary"); !strings.HasPrefix(s, "Active:") {
		t.Errorf("the demo app's introspection of bob's own refreshed token: %s", s)
	}

	// 2-3. Alice signs in, opens Delegated access and gives bob read access to
	// her notes until a date, through the review step.
	step(alice, "alice signs in", chromedp.EmulateViewport(900, 800),
		chromedp.Navigate(base+"/login"), bt.WaitTestID("login-email"),
		chromedp.SendKeys(bt.Sel("login-email"), "alice@oidc.example"), chromedp.Click(bt.Sel("login-submit")),
		bt.WaitTestID("pick-0"), chromedp.Click(bt.Sel("pick-0")), bt.WaitTestID("account"))
	step(alice, "open delegated access", chromedp.Click(bt.Sel("account-delegations-link")), bt.WaitTestID("delegations"))
	fits("delegations")
	now := time.Now().UTC()
	until := time.Date(now.Year(), now.Month(), now.Day(), 17, 0, 0, 0, time.UTC).AddDate(0, 0, 7)
	step(alice, "fill in the give-access form", chromedp.Click(bt.Sel("give-access-link")), bt.WaitTestID("give-form"),
		chromedp.SendKeys(bt.Sel("give-email"), "bob@oidc.example"), chromedp.Click(bt.Sel("give-scope-notes.read")),
		chromedp.Click(bt.Sel("give-for-date")), chromedp.SetValue(bt.Sel("give-until"), until.Format("2006-01-02T15:04")),
		chromedp.SendKeys(bt.Sel("give-note"), "While I am away next week."))
	if api := text(alice, "give-api"); api != "Demo Notes API" {
		t.Errorf("give-access form for %q", api)
	}
	// The policy offers notes.read and notes.write only (grades and admin stay alice's).
	offered, _ := chromedp.Run(alice, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-testid^="give-scope-"] input, input[data-testid^="give-scope-"]')].map(e => e.value)`))
	if strings.Join(offered, " ") != "notes.read notes.write" {
		t.Errorf("delegable scopes offered: %v", offered)
	}
	fits("give-access")
	shot(alice, "delegation-1-give", true)
	step(alice, "review", chromedp.Click(bt.Sel("give-review")), bt.WaitTestID("give-review-page"))
	fits("review")
	if s := text(alice, "give-summary"); !strings.HasPrefix(s, "Bob Example will be able to read your notes in Demo Notes API until ") {
		t.Errorf("review summary %q", s)
	}
	shot(alice, "delegation-2-review", true)
	step(alice, "confirm", chromedp.Click(bt.Sel("give-confirm")), bt.WaitTestID("delegations-notice"))
	fits("delegations after giving")
	testID, _ := chromedp.Run(alice, chromedp.Evaluate[string](
		`document.querySelector('[data-testid="delegations-outgoing"] [data-status]').dataset.testid`))
	delegationID := strings.TrimPrefix(testID, "delegation-")
	if delegationID == "" || delegationID == testID {
		t.Fatalf("no outgoing delegation on alice's page (%q)", testID)
	}

	// 4-5. Bob signs in to the demo app again and acts for Alice.
	step(bob, "bob signs in again", chromedp.Click(bt.Sel("demo-signin-again")), bt.WaitTestID("consent-actfor"),
		chromedp.Click(bt.Sel("consent-actfor-"+delegationID)))
	shot(bob, "delegation-3-consent", true)
	step(bob, "act for alice", chromedp.Click(bt.Sel("consent-approve")), bt.WaitTestID("demo-acting"),
		// Tall enough for the access token's claims down to sub.
		chromedp.EmulateViewport(900, 1130))
	if s := text(bob, "demo-acting"); s != "Acting for Alice Example (alice@oidc.example) as Bob Example (bob@oidc.example)" {
		t.Errorf("the demo app says %q", s)
	}
	if s := text(bob, "demo-delegation-id"); s != delegationID {
		t.Errorf("the demo app shows delegation %q, want %q", s, delegationID)
	}
	if s := text(bob, "demo-scope"); s != "openid notes.read" {
		t.Errorf("scope acting for alice: %q", s)
	}
	at, _ := chromedp.Run(bob, chromedp.Evaluate[string](`document.querySelector('[data-testid="demo-access-token"]').textContent`))
	claims := jwtPayload(at)
	act, _ := claims["act"].(map[string]any)
	if act == nil || claims["delegation_id"] != delegationID {
		t.Fatalf("access token claims %v", claims)
	}
	shot(bob, "delegation-4-demo-app", false)
	introspect := func() map[string]any {
		t.Helper()
		code, body := postForm(t, base+"/oauth2/introspect", vars["SERVICE_ID"], vars["SERVICE_SECRET"], "token="+url.QueryEscape(at))
		var v map[string]any
		if code != 200 || json.Unmarshal([]byte(body), &v) != nil {
			t.Fatalf("introspection as %s: %d %s", vars["SERVICE_ID"], code, body)
		}
		return v
	}
	// README's curl line, as written, with the token in ACCESS_TOKEN.
	readmeCurl := func(name string, check func(v map[string]any) bool) {
		t.Run(name, func(t *testing.T) {
			testsupport.RequireTools(t, "bash", "curl")
			cmd := exec.Command("bash", "-e", "-o", "pipefail", "-s")
			cmd.Dir, cmd.Stdin = filepath.Dir(dir), strings.NewReader(readmeBlock(t, readmeDelegationMarker))
			cmd.Env = append(os.Environ(), "ACCESS_TOKEN="+at)
			b, err := cmd.CombinedOutput()
			var v map[string]any
			if err != nil || json.Unmarshal(b, &v) != nil || !check(v) {
				t.Errorf("README's introspection: %v\n%s", err, b)
			}
		})
	}
	if v := introspect(); v["active"] != true || v["sub"] != claims["sub"] || v["delegation_id"] != delegationID {
		t.Errorf("introspection before revoking: %v", v)
	}
	readmeCurl("readme-curl-active", func(v map[string]any) bool {
		return v["active"] == true && v["sub"] == claims["sub"] && reflect.DeepEqual(v["act"], claims["act"])
	})

	// 6. Alice sees the use on the Activity page. Uses are batched audit
	// events (written within the audit writer's flush interval), so the page
	// is reloaded until the use is there.
	step(alice, "open activity", chromedp.Navigate(base+"/account/delegations"), bt.WaitTestID("delegation-activity"),
		chromedp.Click(bt.Sel("delegation-activity")), bt.WaitTestID("delegation-activity-page"))
	used := `[data-testid="activity-entry"][data-kind="delegation.used"]`
	for range 100 {
		if n, _ := chromedp.Run(alice, chromedp.Evaluate[int](`document.querySelectorAll('`+used+`').length`)); n > 0 {
			break
		}
		step(alice, "reload activity", chromedp.Sleep(50*time.Millisecond), chromedp.Reload(), bt.WaitTestID("delegation-activity-page"))
	}
	use, err := chromedp.Run(alice, chromedp.Text(chromedp.CSS(used)))
	if err != nil || !strings.HasPrefix(use, "Bob Example used your access to Demo Notes API in Gatehouse demo app on ") ||
		!strings.Contains(use, "read your notes") {
		t.Errorf("activity entry %q: %v", use, err)
	}
	fits("activity")
	shot(alice, "delegation-5-activity", true)

	// 7-8. Alice revokes; within the same second the token is inactive.
	step(alice, "revoke", chromedp.Navigate(base+"/account/delegations"), bt.WaitTestID("delegation-revoke"),
		chromedp.Click(bt.Sel("delegation-revoke")), bt.WaitTestID("delegation-confirm"))
	fits("revoke confirmation")
	shot(alice, "delegation-6-revoke", true)
	step(alice, "confirm revoke", chromedp.Click(bt.Sel("confirm-revoke")), bt.WaitTestID("delegations-notice"))
	if v := introspect(); len(v) != 1 || v["active"] != false {
		t.Errorf("introspection right after revoking: %v", v)
	}
	fits("delegations after revoking")
	readmeCurl("readme-curl-inactive", func(v map[string]any) bool { return len(v) == 1 && v["active"] == false })
	step(bob, "the demo app introspects", chromedp.EmulateViewport(900, 800), chromedp.Click(bt.Sel("demo-introspect")),
		bt.WaitTestID("demo-introspection"))
	if s := text(bob, "demo-introspection-summary"); !strings.HasPrefix(s, "Not active:") {
		t.Errorf("the demo app's introspection: %s", s)
	}
	shot(bob, "delegation-7-inactive", false)
	step(bob, "the demo app refreshes", chromedp.Click(bt.Sel("demo-refresh")), bt.WaitTestID("demo-refresh-refused"))
	if s := text(bob, "demo-refresh-refused"); !strings.Contains(s, "invalid_grant") {
		t.Errorf("the demo app's refresh: %s", s)
	}

	// What the database says once the demo has stopped (its audit writer
	// flushed): the token was about alice and acted by bob, the delegation is
	// revoked, and it was used once: nothing was issued under it after.
	stop()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids := map[string]string{}
	for _, email := range []string{"alice@oidc.example", "bob@oidc.example"} {
		us, err := db.Users().FindByEmail(ctx, email)
		if err != nil || len(us) != 1 {
			t.Fatalf("%s: %v %v", email, us, err)
		}
		ids[email] = us[0].ID
	}
	if claims["sub"] != ids["alice@oidc.example"] || act["sub"] != ids["bob@oidc.example"] {
		t.Errorf("token sub %v act %v; alice is %s, bob %s", claims["sub"], act, ids["alice@oidc.example"], ids["bob@oidc.example"])
	}
	d, err := db.Delegations().Get(ctx, delegationID)
	if err != nil || d.RevokedAt.IsZero() || d.EndReason != store.DelegationEndRevoked || d.GrantorID != ids["alice@oidc.example"] ||
		d.GranteeUserID != ids["bob@oidc.example"] || strings.Join(d.Scopes, " ") != "notes.read" || !d.ExpiresAt.Equal(until) {
		t.Errorf("delegation %+v: %v (want until %s)", d, err, until)
	}
	uses, err := db.Audit().List(ctx, store.AuditFilter{Action: "delegation.used", Target: delegationID})
	if err != nil || len(uses) != 1 {
		t.Errorf("delegation.used events: %d (%v), want 1", len(uses), err)
	}
}
