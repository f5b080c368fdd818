package signin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// signedInTo reports whether browser c's session cookie still opens the
// account page.
func signedInTo(e *brokertest.SigninEnv, c *http.Client) bool {
	e.T.Helper()
	res, page := e.Follow(c, e.Get(c, "/account"))
	return res.StatusCode == http.StatusOK && strings.Contains(page, `data-testid="account"`)
}

// TestIdPInitiatedLogoutOtherBrowser: saml-core §3.7.3.2, a LogoutRequest ends
// only the sessions it names. A validly signed LogoutRequest for Carol,
// delivered in Dave's browser, ends Carol's sessions and leaves Dave signed in
// (his session row and his cookie); delivered in Carol's browser, it also
// clears her cookie.
func TestIdPInitiatedLogoutOtherBrowser(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, brokertest.Options{})
	ctx := context.Background()
	carolBrowser, daveBrowser := brokertest.NewClient(e), brokertest.NewClient(e)
	e.SignIn(carolBrowser, "carol@saml.example")
	dave := brokertest.Carol()
	dave.ID, dave.Index, dave.NameID, dave.UserEmail, dave.UserCommonName = "idp-sess-2", "idx-2", "dave@saml.example", "dave@saml.example", "Dave"
	e.IdP.SetSession(dave)
	e.SignIn(daveBrowser, "dave@saml.example")
	if !signedInTo(e, carolBrowser) || !signedInTo(e, daveBrowser) || e.Sessions() != 2 {
		t.Fatalf("setup: sessions %d", e.Sessions())
	}

	// Carol's logout, in Dave's browser.
	top, _ := logoutStatus(t, e.PostForm(daveBrowser, "/saml/uni/slo", idpLogoutForm(e, "carol@saml.example")))
	if top != crewjam.StatusSuccess {
		t.Errorf("status %s, want Success: Carol's session was ended", top)
	}
	if left, err := e.DB.Sessions().ListForIdentity(ctx, "uni", "carol@saml.example"); err != nil || len(left) != 0 {
		t.Errorf("Carol's sessions after her logout: %d %v", len(left), err)
	}
	if left, err := e.DB.Sessions().ListForIdentity(ctx, "uni", "dave@saml.example"); err != nil || len(left) != 1 {
		t.Errorf("Dave's session ended by Carol's logout: %d %v", len(left), err)
	}
	if !signedInTo(e, daveBrowser) {
		t.Error("Dave's browser was signed out by a LogoutRequest for Carol")
	}
	if signedInTo(e, carolBrowser) {
		t.Error("Carol's browser still signed in")
	}

	// Carol signs in again; her own browser delivers her next logout.
	e.IdP.SetSession(brokertest.Carol())
	e.SignIn(carolBrowser, "carol@saml.example")
	if !signedInTo(e, carolBrowser) || e.Sessions() != 2 {
		t.Fatalf("Carol's second sign-in: sessions %d", e.Sessions())
	}
	res := e.PostForm(carolBrowser, "/saml/uni/slo", idpLogoutForm(e, "carol@saml.example"))
	cleared := false
	for _, ck := range res.Cookies() {
		cleared = cleared || ck.Name == web.BrowserCookieSecure && ck.MaxAge < 0
	}
	if top, _ := logoutStatus(t, res); top != crewjam.StatusSuccess || !cleared {
		t.Errorf("in Carol's browser: status %s, cookie cleared %v", top, cleared)
	}
	if signedInTo(e, carolBrowser) || !signedInTo(e, daveBrowser) || e.Sessions() != 1 {
		t.Errorf("after Carol's own logout: sessions %d", e.Sessions())
	}
}

// rpLogoutEnv is an brokertest.AuthzEnv whose browser is signed in through an OIDC or a
// SAML provider, its upstream logout switched off if skip; hits counts the
// visits to that provider's logout endpoint.
func rpLogoutEnv(t *testing.T, kind string, skip bool) (e *brokertest.AuthzEnv, b *http.Client, hits func() int64) {
	t.Helper()
	e = brokertest.NewAuthzEnv(t)
	if kind == upstream.KindOIDC {
		if skip {
			e.Upsert(upstream.Spec{ID: "corp", Kind: upstream.KindOIDC, Name: "OIDC corp", Domains: []string{"oidc.example"},
				OIDC: &upstream.OIDCSettings{Issuer: e.OIDC.URL(), ClientID: "gatehouse",
					Common: upstream.Common{SkipUpstreamLogout: true}}})
		}
		return e, e.SignedIn(), e.OIDC.LogoutHits.Load
	}
	e.AddSAML("uni", "saml.example", false, brokertest.Carol(), func(sp *upstream.Spec) { sp.SAML.SkipUpstreamLogout = skip })
	b = brokertest.NewClient(e.SigninEnv)
	if res, page := e.SignIn(b, "carol@saml.example"); res.StatusCode != 200 || !strings.Contains(page, `data-testid="account"`) {
		t.Fatalf("sign-in: %d %s", res.StatusCode, page)
	}
	return e, b, e.IdP.SLOHits.Load
}

// rpLogout asks, as the client web, for browser b's logout with a return to
// https://app.test/bye and state, and confirms it; it returns the
// confirmation's answer and the confirmation page's CSP.
func rpLogout(e *brokertest.AuthzEnv, b *http.Client, state string) (*http.Response, string) {
	e.T.Helper()
	v := url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {"https://app.test/bye"}, "state": {state}}
	res, page := e.Follow(b, e.Get(b, "/oauth2/logout?"+v.Encode()))
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="rp-logout"`) {
		e.T.Fatalf("confirmation page: %d\n%s", res.StatusCode, page)
	}
	return e.PostForm(b, "/oauth2/logout/confirm", brokertest.FormFields(e.T, page, "/oauth2/logout/confirm")),
		res.Header.Get("Content-Security-Policy")
}

// TestRPInitiatedLogoutUpstream: OpenID Connect RP-Initiated Logout 1.0. An
// application's logout with a valid post_logout_redirect_uri ends the Gatehouse
// session, then the upstream session (the OP's end_session_endpoint, the SAML
// IdP's single logout service), and only then returns to the application with
// its state. With the provider's skip_upstream_logout on, the upstream is not
// visited and the application gets the browser back at once.
func TestRPInitiatedLogoutUpstream(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		kind string
		skip bool
	}{{upstream.KindOIDC, false}, {upstream.KindSAML, false}, {upstream.KindOIDC, true}, {upstream.KindSAML, true}} {
		name := c.kind
		if c.skip {
			name += "/skip_upstream_logout"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e, b, hits := rpLogoutEnv(t, c.kind, c.skip)
			res, csp := rpLogout(e, b, "s1")
			if e.Sessions() != 0 {
				t.Errorf("sessions after the confirmation: %d", e.Sessions())
			}
			if !strings.Contains(csp, "https://app.test") {
				t.Errorf("confirmation page form-action misses the application: %s", csp)
			}
			if c.skip {
				res.Body.Close()
				if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "https://app.test/bye?state=s1" || hits() != 0 {
					t.Errorf("switch off: %d %q, upstream visits %d", res.StatusCode, res.Header.Get("Location"), hits())
				}
				return
			}
			o := e.Drive(b, res)
			if o.App == nil || o.App.String() != "https://app.test/bye?state=s1" {
				t.Fatalf("did not return to the application: %d %v\n%s", o.Status, o.App, o.Page)
			}
			if hits() == 0 {
				t.Error("the upstream logout endpoint was not visited")
			}
			if signedInTo(e.SigninEnv, b) {
				t.Error("still signed in")
			}
		})
	}
}

// TestRPInitiatedLogoutReturnNotFromURL: the application's return address
// waits in the sealed flow cookie while the OP signs out; a post_logout_redirect_uri
// or state added to Gatehouse's own logout-return URL changes nothing, and that
// URL without the browser's flow cookie returns to no application.
func TestRPInitiatedLogoutReturnNotFromURL(t *testing.T) {
	t.Parallel()
	e, b, _ := rpLogoutEnv(t, upstream.KindOIDC, false)
	res, _ := rpLogout(e, b, "s1")
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), e.OIDC.URL()) {
		t.Fatalf("confirmation: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res = e.Get(b, res.Header.Get("Location"))
	res.Body.Close()
	back, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), e.TS.URL+"/callback/corp/logout?") {
		t.Fatalf("OP's answer: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	tampered := *back
	tampered.RawQuery += "&" + url.Values{"post_logout_redirect_uri": {"https://evil.test/"}, "state": {"evil"}}.Encode()
	res = e.Get(brokertest.NewClient(e.SigninEnv), tampered.String())
	_, page := e.Follow(brokertest.NewClient(e.SigninEnv), res)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="signed-out-note"`) {
		t.Errorf("another browser at the return URL: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res = e.Get(b, tampered.String())
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "https://app.test/bye?state=s1" {
		t.Errorf("return: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
