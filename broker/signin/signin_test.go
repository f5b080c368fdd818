package signin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

func TestSignInOIDCRoundTrip(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	c := brokertest.NewClient(e)
	res, page := e.SignIn(c, "alice@oidc.example")
	if res.StatusCode != 200 || !strings.Contains(page, `data-testid="account"`) {
		t.Fatalf("after sign-in: %d %s\n%s", res.StatusCode, res.Request.URL, page)
	}
	for _, want := range []string{"Alice", "alice@oidc.example", `data-testid="identity-corp"`, `data-current="true"`, "<code>staff</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if e.Users() != 1 || e.Sessions() != 1 || e.Identities() != 1 {
		t.Errorf("users %d sessions %d identities %d, want 1 each", e.Users(), e.Sessions(), e.Identities())
	}
	if len(e.Audited("signin.succeeded")) != 1 {
		t.Error("no signin.succeeded audit event")
	}

	// Signing in again reuses the user and adds a session.
	c2 := brokertest.NewClient(e)
	if res, _ := e.SignIn(c2, "alice@oidc.example"); res.StatusCode != 200 {
		t.Fatalf("second sign-in: %d", res.StatusCode)
	}
	if e.Users() != 1 || e.Sessions() != 2 {
		t.Errorf("users %d sessions %d, want 1 and 2", e.Users(), e.Sessions())
	}

	// Logout: confirmation page, POST, upstream RP-initiated logout, signed-out page.
	_, page = e.Follow(c, e.Get(c, "/logout"))
	f := brokertest.FormFields(t, page, "/logout")
	res, page = e.Follow(c, e.PostForm(c, "/logout", f))
	if !strings.Contains(page, `data-testid="signed-out"`) || strings.Contains(page, "signed-out-note") {
		t.Fatalf("after logout: %s\n%s", res.Request.URL, page)
	}
	if e.OIDC.LogoutHits.Load() != 1 {
		t.Errorf("upstream logout hits %d, want 1", e.OIDC.LogoutHits.Load())
	}
	if e.Sessions() != 1 {
		t.Errorf("sessions after logout %d, want 1", e.Sessions())
	}
	res = e.Get(c, "/account")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?return_to=%2Faccount") {
		t.Errorf("account after logout: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestSignInSAMLRoundTrip(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	c := brokertest.NewClient(e)
	res, page := e.SignIn(c, "carol@saml.example")
	if res.StatusCode != 200 || !strings.Contains(page, `data-testid="account"`) {
		t.Fatalf("after sign-in: %d %s\n%s", res.StatusCode, res.Request.URL, page)
	}
	for _, want := range []string{"carol@saml.example", `data-testid="identity-uni"`, "<code>teacher</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if e.Users() != 1 || e.Sessions() != 1 {
		t.Errorf("users %d sessions %d", e.Users(), e.Sessions())
	}
	// SP-initiated single logout against the real IdP.
	_, page = e.Follow(c, e.Get(c, "/logout"))
	res, page = e.Follow(c, e.PostForm(c, "/logout", brokertest.FormFields(t, page, "/logout")))
	if !strings.Contains(page, `data-testid="signed-out"`) || strings.Contains(page, "signed-out-note") {
		t.Fatalf("after logout: %s\n%s", res.Request.URL, page)
	}
	if e.IdP.SLOHits.Load() == 0 {
		t.Error("the IdP's SLO endpoint was not reached")
	}
	if e.Sessions() != 0 {
		t.Errorf("sessions after logout %d", e.Sessions())
	}
}

func TestLoginPageDiscovery(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.AddOIDC("corp2", "oidc.example", false, brokertest.AliceClaims())
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	c := brokertest.NewClient(e)
	_, page := e.Follow(c, e.Get(c, "/login"))
	f := brokertest.FormFields(t, page, "/login")
	for _, tc := range []struct{ email, want string }{
		{"x@oidc.example", "Several organisations"},
		{"x@nowhere.example", "No organisation is set up"},
	} {
		f.Set("email", tc.email)
		res := e.PostForm(c, "/login", f)
		_, page := e.Follow(c, res)
		if !strings.Contains(page, tc.want) || !strings.Contains(page, `data-testid="provider-corp"`) {
			t.Errorf("%s: page lacks %q or provider list", tc.email, tc.want)
		}
	}
	// login_hint and idp_hint skip the page.
	res := e.Get(c, "/login?login_hint=brokertest.Carol%40saml.example&return_to=%2Fx")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login/uni?login_hint=brokertest.Carol%40saml.example&return_to=%2Fx" {
		t.Errorf("login_hint: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res = e.Get(c, "/login?idp_hint=corp2")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login/corp2") {
		t.Errorf("idp_hint: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	// The last-used provider is offered for a one-click return.
	e.SignIn(c, "carol@saml.example")
	_, page = e.Follow(c, e.Get(c, "/login"))
	if !strings.Contains(page, `data-testid="last-used" href="/login/uni"`) {
		t.Errorf("no last-used button:\n%s", page)
	}
	_ = url.Values{}
}
