package broker

import (
	"context"
	"net/http"
	"strings"
	"testing"

	crewjam "github.com/crewjam/saml"
)

// signedInTo reports whether browser c's session cookie still opens the
// account page.
func (e *signinEnv) signedInTo(c *http.Client) bool {
	e.t.Helper()
	res, page := e.follow(c, e.get(c, "/account"))
	return res.StatusCode == http.StatusOK && strings.Contains(page, `data-testid="account"`)
}

// TestIdPInitiatedLogoutOtherBrowser: saml-core §3.7.3.2, a LogoutRequest ends
// only the sessions it names. A validly signed LogoutRequest for Carol,
// delivered in Dave's browser, ends Carol's sessions and leaves Dave signed in
// (his session row and his cookie); delivered in Carol's browser, it also
// clears her cookie.
func TestIdPInitiatedLogoutOtherBrowser(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, envOptions{})
	ctx := context.Background()
	carolBrowser, daveBrowser := newClient(e), newClient(e)
	e.signIn(carolBrowser, "carol@saml.example")
	dave := carol()
	dave.ID, dave.Index, dave.NameID, dave.UserEmail, dave.UserCommonName = "idp-sess-2", "idx-2", "dave@saml.example", "dave@saml.example", "Dave"
	e.idp.SetSession(dave)
	e.signIn(daveBrowser, "dave@saml.example")
	if !e.signedInTo(carolBrowser) || !e.signedInTo(daveBrowser) || e.sessions() != 2 {
		t.Fatalf("setup: sessions %d", e.sessions())
	}

	// Carol's logout, in Dave's browser.
	top, _ := logoutStatus(t, e.postForm(daveBrowser, "/saml/uni/slo", e.idpLogoutForm("carol@saml.example")))
	if top != crewjam.StatusSuccess {
		t.Errorf("status %s, want Success: Carol's session was ended", top)
	}
	if left, err := e.db.Sessions().ListForIdentity(ctx, "uni", "carol@saml.example"); err != nil || len(left) != 0 {
		t.Errorf("Carol's sessions after her logout: %d %v", len(left), err)
	}
	if left, err := e.db.Sessions().ListForIdentity(ctx, "uni", "dave@saml.example"); err != nil || len(left) != 1 {
		t.Errorf("Dave's session ended by Carol's logout: %d %v", len(left), err)
	}
	if !e.signedInTo(daveBrowser) {
		t.Error("Dave's browser was signed out by a LogoutRequest for Carol")
	}
	if e.signedInTo(carolBrowser) {
		t.Error("Carol's browser still signed in")
	}

	// Carol signs in again; her own browser delivers her next logout.
	e.idp.SetSession(carol())
	e.signIn(carolBrowser, "carol@saml.example")
	if !e.signedInTo(carolBrowser) || e.sessions() != 2 {
		t.Fatalf("Carol's second sign-in: sessions %d", e.sessions())
	}
	res := e.postForm(carolBrowser, "/saml/uni/slo", e.idpLogoutForm("carol@saml.example"))
	cleared := false
	for _, ck := range res.Cookies() {
		cleared = cleared || ck.Name == browserCookieSecure && ck.MaxAge < 0
	}
	if top, _ := logoutStatus(t, res); top != crewjam.StatusSuccess || !cleared {
		t.Errorf("in Carol's browser: status %s, cookie cleared %v", top, cleared)
	}
	if e.signedInTo(carolBrowser) || !e.signedInTo(daveBrowser) || e.sessions() != 1 {
		t.Errorf("after Carol's own logout: sessions %d", e.sessions())
	}
}
