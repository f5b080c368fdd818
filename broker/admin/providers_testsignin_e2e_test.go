package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// rows counts what a sign-in would store: users, sessions, identities (a
// login updates one: its last_login_at is compared apart).
func (w *world) rows() [3]int {
	return [3]int{w.Users(), w.Sessions(), w.Identities()}
}

// testSignIn presses "Test sign-in" on provider id's page as c, follows the
// hops through the IdP like a browser, and returns the last response and page.
func (w *world) testSignIn(c *http.Client, id string) (*http.Response, string) {
	w.t.Helper()
	_, page := w.page(c, "/admin/providers/"+id)
	f := formFields(w.t, page, "/admin/providers/"+id+"/test")
	return w.Follow(c, w.PostForm(c, "/admin/providers/"+id+"/test", f))
}

// TestProviderTestSignInOIDC: an admin tests the OIDC provider uni: the page
// shows the claims bob's IdP returned, the mapped identity and the roles the
// role rules give, all IdP text escaped (ADM-14); nothing is stored (no user,
// session or identity, no login recorded) but the provider.tested event, which
// names the admin and not the claims' values.
func TestProviderTestSignInOIDC(t *testing.T) {
	w := newWorld(t)
	c, aliceID := w.signIn("alice@corp.example")
	iss := w.AddOIDC("evil", "evil.example", false, map[string]any{"sub": "eve", "email": "eve@evil.example",
		"email_verified": true, "name": "<script>alert(1)</script>", "groups": []any{"staff", "<b>x</b>"}})
	// The form's POST answers with a redirect to the IdP, which CSP
	// form-action governs too.
	if res, _ := w.page(c, "/admin/providers/evil"); !strings.Contains(res.Header.Get("Content-Security-Policy"), "form-action 'self' "+iss.URL()) {
		t.Errorf("provider page CSP %q", res.Header.Get("Content-Security-Policy"))
	}
	aliceIdent, err := w.DB.Identities().Get(context.Background(), "corp", "alice")
	brokertest.Must(t, err)
	before := w.rows()

	res, page := w.testSignIn(c, "evil")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Request.URL.Path, "/admin/providers/evil/test") {
		t.Fatalf("test sign-in: %d %s %s", res.StatusCode, res.Request.URL, page)
	}
	for _, want := range []string{`data-testid="test-subject">eve<`, `data-testid="test-email">eve@evil.example<`,
		`data-testid="test-email-verified">`, `data-testid="test-roles">staff<`,
		`data-testid="test-name">&lt;script&gt;alert(1)&lt;/script&gt;<`, `staff, &lt;b&gt;x&lt;/b&gt;`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<b>x</b>") {
		t.Error("IdP text rendered as HTML (ADM-14)")
	}
	if after := w.rows(); after != before {
		t.Fatalf("rows (users, sessions, identities) %v, then %v", before, after)
	}
	if us, _ := w.DB.Users().FindByEmail(context.Background(), "eve@evil.example"); len(us) != 0 {
		t.Fatalf("a user was created: %+v", us)
	}
	if got, _ := w.DB.Identities().Get(context.Background(), "corp", "alice"); !got.LastLoginAt.Equal(aliceIdent.LastLoginAt) {
		t.Error("a login was recorded")
	}
	if n := len(w.Audited("signin.succeeded")); n != 1 { // alice's own
		t.Errorf("%d signin.succeeded events", n)
	}
	w.wantAudited("provider.tested", "evil", aliceID, "console")
	if d := string(w.events("provider.tested")[0].Details); !strings.Contains(d, `"result":"succeeded"`) || strings.Contains(d, "eve") {
		t.Errorf("provider.tested details %s", d)
	}

	// The admin's own provider: its role rules make alice an admin.
	_, page = w.testSignIn(c, "corp")
	if !strings.Contains(page, `data-testid="test-roles">admin<`) || !strings.Contains(page, `data-testid="test-groups">admins<`) {
		t.Errorf("corp test:\n%s", page)
	}

	// The result URL, replayed later, is the same page, not a second flow;
	// the flow itself is single-use (OIDC-01).
	if after := w.rows(); after != before {
		t.Fatalf("rows %v, then %v", before, after)
	}
}

// TestProviderTestSignInRefused: a response with a wrong audience is refused
// as a sign-in's is; the page shows the reason, the event records it, nothing
// is stored.
func TestProviderTestSignInRefused(t *testing.T) {
	w := newWorld(t)
	c, aliceID := w.signIn("alice@corp.example")
	iss := w.AddOIDC("evil", "evil.example", false, map[string]any{"sub": "eve", "email": "eve@evil.example"})
	iss.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"aud": "someone-else"} })
	before := w.rows()

	res, page := w.testSignIn(c, "evil")
	if res.StatusCode != 200 || !strings.Contains(page, `data-testid="test-reason">invalid_response<`) || strings.Contains(page, "eve@evil.example") {
		t.Fatalf("refused test: %d\n%s", res.StatusCode, page)
	}
	if after := w.rows(); after != before {
		t.Fatalf("rows %v, then %v", before, after)
	}
	w.wantAudited("provider.tested", "evil", aliceID, "console")
	if d := string(w.events("provider.tested")[0].Details); !strings.Contains(d, `"reason":"invalid_response"`) {
		t.Errorf("provider.tested details %s", d)
	}
}

// TestADM01_ProviderTestSignInAdminOnly: a non-admin can neither start a test
// sign-in nor open an admin's result page, nor can another session of the
// admin; nothing is started or stored.
func TestADM01_ProviderTestSignInAdminOnly(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	res, _ := w.testSignIn(c, "uni")
	result := res.Request.URL.RequestURI()
	if !strings.Contains(result, "result=") {
		t.Fatalf("no result URL: %s", result)
	}
	bob, _ := w.signIn("bob@uni.example")
	before, tested := w.rows(), len(w.events("provider.tested"))
	res = w.PostForm(bob, "/admin/providers/uni/test", url.Values{})
	if res.StatusCode != http.StatusForbidden || res.Header.Get("Location") != "" {
		t.Errorf("bob starts a test: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res.Body.Close()
	if res, page := w.page(bob, result); res.StatusCode != http.StatusForbidden || strings.Contains(page, "bob@uni.example") {
		t.Errorf("bob opens alice's result: %d", res.StatusCode)
	}
	if w.rows() != before {
		t.Error("bob's attempts stored something")
	}
	// The result is sealed to the session that ran the test: even the same
	// admin in another browser cannot open it.
	other, _ := w.signIn("alice@corp.example")
	before = w.rows()
	if res, page := w.page(other, result); res.StatusCode != http.StatusBadRequest || strings.Contains(page, `data-testid="test-subject"`) {
		t.Errorf("another session opens the result: %d", res.StatusCode)
	}
	if w.rows() != before || len(w.events("provider.tested")) != tested {
		t.Error("something was stored")
	}
}

// TestProviderTestSignInSAML: a SAML provider's test shows the attributes
// and the mapped identity, and stores nothing.
func TestProviderTestSignInSAML(t *testing.T) {
	w := newWorld(t)
	c, aliceID := w.signIn("alice@corp.example")
	w.AddSAML("college", "saml.example", true, brokertest.Carol())
	before := w.rows()
	res, page := w.testSignIn(c, "college")
	if res.StatusCode != 200 || !strings.Contains(page, `data-testid="test-email">`+brokertest.Carol().UserEmail+`<`) ||
		!strings.Contains(page, `data-testid="test-claims"`) {
		t.Fatalf("SAML test: %d\n%s", res.StatusCode, page)
	}
	if after := w.rows(); after != before {
		t.Fatalf("rows %v, then %v", before, after)
	}
	w.wantAudited("provider.tested", "college", aliceID, "console")
}
