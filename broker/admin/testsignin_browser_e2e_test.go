package admin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// wantNothingOf asserts that the upstream identity (provider, subject), whose
// email is email, left nothing behind: no identity, no session, no user.
func (w *world) wantNothingOf(provider, subject, email string) {
	w.t.Helper()
	ctx := context.Background()
	if _, err := w.DB.Identities().Get(ctx, provider, subject); !errors.Is(err, store.ErrNotFound) {
		w.t.Errorf("identity (%s, %s): %v", provider, subject, err)
	}
	if ss, err := w.DB.Sessions().ListForIdentity(ctx, provider, subject); err != nil || len(ss) != 0 {
		w.t.Errorf("sessions of (%s, %s): %d %v", provider, subject, len(ss), err)
	}
	if us, err := w.DB.Users().FindByEmail(ctx, email); err != nil || len(us) != 0 {
		w.t.Errorf("users with %s: %+v %v", email, us, err)
	}
}

// TestBrowserProviderTestSignIn: in headless Chromium, an admin on a
// provider's page clicks Test sign-in, signs in at the in-process IdP and sees
// what it returned and the mapped identity; the person tested got no identity,
// session or user. For SAML the IdP is on another site (localhost), so its
// response reaches the ACS by a cross-site POST that carries no session cookie
// (Lax, WEB-09): the test flow still finds the admin's session by the flow
// cookie (SameSite=None) alone.
func TestBrowserProviderTestSignIn(t *testing.T) {
	for _, tc := range []struct {
		name, provider, subject, email string
		add                            func(w *world)
	}{
		{"OIDC", "evil", "eve", "eve@evil.example", func(w *world) {
			w.AddOIDC("evil", "evil.example", false, map[string]any{"sub": "eve", "email": "eve@evil.example",
				"email_verified": true, "name": "Eve", "groups": []any{"staff"}})
		}},
		{"SAML", "college", brokertest.Carol().NameID, brokertest.Carol().UserEmail, func(w *world) {
			w.IdPOnLocalhost = true
			w.AddSAML("college", "saml.example", false, brokertest.Carol())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.add(w)
			ctx := bt.New(t, 90*time.Second)
			err := chromedp.Do(ctx,
				chromedp.Navigate(w.TS.URL+"/admin/providers/"+tc.provider),
				bt.WaitTestID("login-email"),
				chromedp.SendKeys(bt.Sel("login-email"), "alice@corp.example"),
				chromedp.Click(bt.Sel("login-submit")),
				bt.WaitTestID("provider-test"),
				chromedp.Click(bt.Sel("provider-test")),
				bt.WaitTestID("test-identity"),
				bt.WaitTestID("test-claims"),
			)
			if err != nil {
				t.Fatalf("%v\n%s", err, w.Logs)
			}
			subject, _ := bt.Text(ctx, "test-subject")
			email, _ := bt.Text(ctx, "test-email")
			claims, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="test-claims"] tbody tr').length`))
			if subject != tc.subject || email != tc.email || claims == 0 {
				t.Fatalf("subject %q email %q, %d claims", subject, email, claims)
			}
			w.wantNothingOf(tc.provider, tc.subject, tc.email)
			if w.Users() != 1 || w.Sessions() != 1 || w.Identities() != 1 { // alice's
				t.Errorf("users, sessions, identities %v", w.rows())
			}
			w.wantAudited("provider.tested", tc.provider, w.userID("alice@corp.example"), "console")
		})
	}
}

// TestBrowserAdminAPITestSignInSAML: an automation client starts a test
// sign-in of a SAML provider on another site; its URL, opened in a browser
// that never signed in to Gatehouse, runs it to the result code, which the
// client opens to the attributes. Nothing of Carol is stored.
func TestBrowserAdminAPITestSignInSAML(t *testing.T) {
	w := newWorld(t)
	w.IdPOnLocalhost = true
	w.AddSAML("college", "saml.example", false, brokertest.Carol())
	robot := w.token("robot", "")
	id, signInURL := w.startTest(robot, "college")
	ctx := bt.New(t, 90*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(signInURL), bt.WaitTestID("test-sign-in-done")); err != nil {
		t.Fatalf("%v\n%s", err, w.Logs)
	}
	bt.Axe(t, ctx)
	code, err := chromedp.Run(ctx, chromedp.Value(bt.Sel("test-result-code")))
	brokertest.Must(t, err)
	status, body := w.testResult(robot, id, code)
	ident, _ := body["identity"].(map[string]any)
	if status != 200 || body["result"] != "succeeded" || ident["email"] != brokertest.Carol().UserEmail {
		t.Fatalf("result: %d %v", status, body)
	}
	w.wantNothingOf("college", brokertest.Carol().NameID, brokertest.Carol().UserEmail)
	if w.rows() != [3]int{} {
		t.Errorf("users, sessions, identities %v", w.rows())
	}
	w.wantAudited("provider.tested", "college", "client:robot", "api")
}
