package broker

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	crewjam "github.com/crewjam/saml"
)

func carol() crewjam.Session {
	return crewjam.Session{ID: "idp-sess-1", Index: "idx-1", NameID: "carol@saml.example",
		NameIDFormat: string(crewjam.EmailAddressNameIDFormat), UserEmail: "carol@saml.example",
		UserCommonName: "Carol", CustomAttributes: []crewjam.Attribute{{Name: "eduPersonAffiliation",
			Values: []crewjam.AttributeValue{{Type: "xs:string", Value: "faculty"}}}}}
}

func aliceClaims() map[string]any {
	return map[string]any{"sub": "alice-sub", "email": "alice@oidc.example", "email_verified": true,
		"name": "Alice", "groups": []any{"staff"}}
}

func TestSignInOIDCRoundTrip(t *testing.T) {
	t.Parallel()
	e := newSigninEnv(t, envOptions{})
	e.addOIDC("corp", "oidc.example", false, aliceClaims())
	c := newClient(e)
	res, page := e.signIn(c, "alice@oidc.example")
	if res.StatusCode != 200 || !strings.Contains(page, `data-testid="account"`) {
		t.Fatalf("after sign-in: %d %s\n%s", res.StatusCode, res.Request.URL, page)
	}
	for _, want := range []string{"Alice", "alice@oidc.example", `data-testid="identity-corp"`, `data-current="true"`, "<code>staff</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if e.users() != 1 || e.sessions() != 1 || e.identities() != 1 {
		t.Errorf("users %d sessions %d identities %d, want 1 each", e.users(), e.sessions(), e.identities())
	}
	if len(e.audited("signin.succeeded")) != 1 {
		t.Error("no signin.succeeded audit event")
	}

	// Signing in again reuses the user and adds a session.
	c2 := newClient(e)
	if res, _ := e.signIn(c2, "alice@oidc.example"); res.StatusCode != 200 {
		t.Fatalf("second sign-in: %d", res.StatusCode)
	}
	if e.users() != 1 || e.sessions() != 2 {
		t.Errorf("users %d sessions %d, want 1 and 2", e.users(), e.sessions())
	}

	// Logout: confirmation page, POST, upstream RP-initiated logout, signed-out page.
	_, page = e.follow(c, e.get(c, "/logout"))
	f := formFields(t, page, "/logout")
	res, page = e.follow(c, e.postForm(c, "/logout", f))
	if !strings.Contains(page, `data-testid="signed-out"`) || strings.Contains(page, "signed-out-note") {
		t.Fatalf("after logout: %s\n%s", res.Request.URL, page)
	}
	if e.oidc.LogoutHits.Load() != 1 {
		t.Errorf("upstream logout hits %d, want 1", e.oidc.LogoutHits.Load())
	}
	if e.sessions() != 1 {
		t.Errorf("sessions after logout %d, want 1", e.sessions())
	}
	res = e.get(c, "/account")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?return_to=%2Faccount") {
		t.Errorf("account after logout: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestSignInSAMLRoundTrip(t *testing.T) {
	t.Parallel()
	e := newSigninEnv(t, envOptions{})
	e.addSAML("uni", "saml.example", false, carol())
	c := newClient(e)
	res, page := e.signIn(c, "carol@saml.example")
	if res.StatusCode != 200 || !strings.Contains(page, `data-testid="account"`) {
		t.Fatalf("after sign-in: %d %s\n%s", res.StatusCode, res.Request.URL, page)
	}
	for _, want := range []string{"carol@saml.example", `data-testid="identity-uni"`, "<code>teacher</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if e.users() != 1 || e.sessions() != 1 {
		t.Errorf("users %d sessions %d", e.users(), e.sessions())
	}
	// SP-initiated single logout against the real IdP.
	_, page = e.follow(c, e.get(c, "/logout"))
	res, page = e.follow(c, e.postForm(c, "/logout", formFields(t, page, "/logout")))
	if !strings.Contains(page, `data-testid="signed-out"`) || strings.Contains(page, "signed-out-note") {
		t.Fatalf("after logout: %s\n%s", res.Request.URL, page)
	}
	if e.idp.SLOHits.Load() == 0 {
		t.Error("the IdP's SLO endpoint was not reached")
	}
	if e.sessions() != 0 {
		t.Errorf("sessions after logout %d", e.sessions())
	}
}

func TestLoginPageDiscovery(t *testing.T) {
	t.Parallel()
	e := newSigninEnv(t, envOptions{})
	e.addOIDC("corp", "oidc.example", false, aliceClaims())
	e.addOIDC("corp2", "oidc.example", false, aliceClaims())
	e.addSAML("uni", "saml.example", false, carol())
	c := newClient(e)
	_, page := e.follow(c, e.get(c, "/login"))
	f := formFields(t, page, "/login")
	for _, tc := range []struct{ email, want string }{
		{"x@oidc.example", "Several organisations"},
		{"x@nowhere.example", "No organisation is set up"},
	} {
		f.Set("email", tc.email)
		res := e.postForm(c, "/login", f)
		_, page := e.follow(c, res)
		if !strings.Contains(page, tc.want) || !strings.Contains(page, `data-testid="provider-corp"`) {
			t.Errorf("%s: page lacks %q or provider list", tc.email, tc.want)
		}
	}
	// login_hint and idp_hint skip the page.
	res := e.get(c, "/login?login_hint=carol%40saml.example&return_to=%2Fx")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login/uni?login_hint=carol%40saml.example&return_to=%2Fx" {
		t.Errorf("login_hint: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res = e.get(c, "/login?idp_hint=corp2")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login/corp2") {
		t.Errorf("idp_hint: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	// The last-used provider is offered for a one-click return.
	e.signIn(c, "carol@saml.example")
	_, page = e.follow(c, e.get(c, "/login"))
	if !strings.Contains(page, `data-testid="last-used" href="/login/uni"`) {
		t.Errorf("no last-used button:\n%s", page)
	}
	_ = url.Values{}
}
