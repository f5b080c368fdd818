package oauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestAccountRevokeAppConfirmed: the account page's Revoke is named for the app
// ("Revoke Web App") and asks first on a page of its own; opening that page, or
// posting without its CSRF token (WEB-01), revokes nothing; once confirmed the
// consent and the app's tokens are gone and the account page says so in a
// sentence. A crafted ?revoked= naming an app still connected says nothing.
func TestAccountRevokeAppConfirmed(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	cb := e.Code(b, q)
	_, tok := e.Redeem("web", cb.Get("code"), q.Verifier, brokertest.AppCB)
	const said = "Web App can no longer use your account; its tokens stopped working."

	_, page := e.Follow(b, e.Get(b, "/account?revoked=web"))
	if !strings.Contains(page, `href="/account/apps/revoke?client=web"`) || !strings.Contains(page, `Revoke <span class="skip">Web App</span>`) {
		t.Fatalf("account page:\n%s", page)
	}
	if strings.Contains(page, said) {
		t.Error("a crafted ?revoked= link claims a connected app was revoked")
	}
	_, confirm := e.Follow(b, e.Get(b, "/account/apps/revoke?client=web"))
	if !strings.Contains(confirm, "Revoke Web App’s access?") {
		t.Fatalf("confirmation page:\n%s", confirm)
	}
	if res := e.PostForm(b, "/account/apps/revoke", url.Values{"client": {"web"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("revoke without CSRF token: %d", res.StatusCode)
	}
	if n := e.Count("consents"); n != 1 {
		t.Fatalf("%d consents before the confirmation", n)
	}
	if _, p := e.Follow(b, e.Get(b, "/account/apps/revoke?client=web2")); !strings.Contains(p, `data-testid="error"`) {
		t.Error("a confirmation page for an app never connected")
	}

	_, page = e.Follow(b, e.PostForm(b, "/account/apps/revoke", brokertest.FormFields(t, confirm, "/account/apps/revoke")))
	if !strings.Contains(page, said) {
		t.Errorf("after Revoke:\n%s", page)
	}
	if n := e.Count("consents"); n != 0 {
		t.Errorf("%d consents left", n)
	}
	if st, out := e.Refresh("web", tok["refresh_token"].(string)); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("refresh after revoke: %d %v", st, out)
	}
}
