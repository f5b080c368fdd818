package broker

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
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
		cleared = cleared || ck.Name == web.BrowserCookieSecure && ck.MaxAge < 0
	}
	if top, _ := logoutStatus(t, res); top != crewjam.StatusSuccess || !cleared {
		t.Errorf("in Carol's browser: status %s, cookie cleared %v", top, cleared)
	}
	if e.signedInTo(carolBrowser) || !e.signedInTo(daveBrowser) || e.sessions() != 1 {
		t.Errorf("after Carol's own logout: sessions %d", e.sessions())
	}
}

// rpLogoutEnv is an authzEnv whose browser is signed in through an OIDC or a
// SAML provider, its upstream logout switched off if skip; hits counts the
// visits to that provider's logout endpoint.
func rpLogoutEnv(t *testing.T, kind string, skip bool) (e *authzEnv, b *http.Client, hits func() int64) {
	t.Helper()
	e = newAuthzEnv(t)
	if kind == upstream.KindOIDC {
		if skip {
			e.upsert(upstream.Spec{ID: "corp", Kind: upstream.KindOIDC, Name: "OIDC corp", Domains: []string{"oidc.example"},
				OIDC: &upstream.OIDCSettings{Issuer: e.oidc.URL(), ClientID: "gatehouse",
					Common: upstream.Common{SkipUpstreamLogout: true}}})
		}
		return e, e.signedIn(), e.oidc.LogoutHits.Load
	}
	e.addSAML("uni", "saml.example", false, carol(), func(sp *upstream.Spec) { sp.SAML.SkipUpstreamLogout = skip })
	b = newClient(e.signinEnv)
	if res, page := e.signIn(b, "carol@saml.example"); res.StatusCode != 200 || !strings.Contains(page, `data-testid="account"`) {
		t.Fatalf("sign-in: %d %s", res.StatusCode, page)
	}
	return e, b, e.idp.SLOHits.Load
}

// rpLogout asks, as the client web, for browser b's logout with a return to
// https://app.test/bye and state, and confirms it; it returns the
// confirmation's answer and the confirmation page's CSP.
func (e *authzEnv) rpLogout(b *http.Client, state string) (*http.Response, string) {
	e.t.Helper()
	v := url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {"https://app.test/bye"}, "state": {state}}
	res, page := e.follow(b, e.get(b, "/oauth2/logout?"+v.Encode()))
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="rp-logout"`) {
		e.t.Fatalf("confirmation page: %d\n%s", res.StatusCode, page)
	}
	return e.postForm(b, "/oauth2/logout/confirm", formFields(e.t, page, "/oauth2/logout/confirm")),
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
			res, csp := e.rpLogout(b, "s1")
			if e.sessions() != 0 {
				t.Errorf("sessions after the confirmation: %d", e.sessions())
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
			o := e.drive(b, res)
			if o.app == nil || o.app.String() != "https://app.test/bye?state=s1" {
				t.Fatalf("did not return to the application: %d %v\n%s", o.status, o.app, o.page)
			}
			if hits() == 0 {
				t.Error("the upstream logout endpoint was not visited")
			}
			if e.signedInTo(b) {
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
	res, _ := e.rpLogout(b, "s1")
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), e.oidc.URL()) {
		t.Fatalf("confirmation: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res = e.get(b, res.Header.Get("Location"))
	res.Body.Close()
	back, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), e.ts.URL+"/callback/corp/logout?") {
		t.Fatalf("OP's answer: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	tampered := *back
	tampered.RawQuery += "&" + url.Values{"post_logout_redirect_uri": {"https://evil.test/"}, "state": {"evil"}}.Encode()
	res = e.get(newClient(e.signinEnv), tampered.String())
	_, page := e.follow(newClient(e.signinEnv), res)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="signed-out-note"`) {
		t.Errorf("another browser at the return URL: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res = e.get(b, tampered.String())
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "https://app.test/bye?state=s1" {
		t.Errorf("return: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
