package oauth_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestUILocalesCarriedThroughSignInAndConsent: an application's ui_locales
// (OIDC Core §3.1.2.1) chooses the language of the sign-in page and, carried
// in the sealed pending request, of the consent page after the IdP's round
// trip; the flow still ends with a code. The same browser's next request
// without ui_locales is in English again: the hint is the request's, not the
// browser's.
func TestUILocalesCarriedThroughSignInAndConsent(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	c := brokertest.NewClient(e.SigninEnv)
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	q.Params.Set("ui_locales", "fr-CA cy-GB en")
	o := e.Start(c, q)
	if !strings.Contains(o.Page, `<html lang="cy">`) || !strings.Contains(o.Page, `data-testid="login-form"`) || !strings.Contains(o.Page, "Cyfeiriad e-bost") {
		t.Fatalf("sign-in page not in Welsh:\n%s", o.Page)
	}
	f := brokertest.FormFields(t, o.Page, "/login")
	f.Set("email", "alice@oidc.example")
	o = e.Drive(c, e.PostForm(c, "/login", f))
	if !strings.Contains(o.Page, `<html lang="cy">`) || !strings.Contains(o.Page, `data-testid="consent"`) ||
		!strings.Contains(o.Page, ">Caniatáu</button>") || !strings.Contains(o.Page, "Read your notes") {
		t.Fatalf("consent page not in Welsh (the API's own scope text stays as registered):\n%s", o.Page)
	}
	o = e.Decide(c, o.Page, "approve")
	if o.App == nil || o.Fields.Get("code") == "" {
		t.Fatalf("no code after the Welsh consent: %d %v", o.Status, o.Fields)
	}
	q = brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read notes.write")
	q.Params.Set("prompt", "consent")
	if o = e.Start(c, q); !strings.Contains(o.Page, `<html lang="en">`) || !strings.Contains(o.Page, ">Allow</button>") {
		t.Errorf("a request without ui_locales is not in English:\n%s", o.Page)
	}
}

// TestDiscoveryListsUILocales: discovery names the page languages ui_locales
// can choose (OIDC Discovery §3 ui_locales_supported).
func TestDiscoveryListsUILocales(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	res := e.Get(brokertest.NewClient(e.SigninEnv), "/.well-known/openid-configuration")
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var doc struct {
		UILocales []string `json:"ui_locales_supported"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || res.StatusCode != http.StatusOK || !slices.Equal(doc.UILocales, []string{"en", "cy"}) {
		t.Errorf("ui_locales_supported = %q (%d, %v)", doc.UILocales, res.StatusCode, err)
	}
}

// TestUILocalesOnAuthorizeErrorPage: an authorization request refused before
// anything could be sealed (an unknown client, an unregistered redirect URI)
// still answers in its ui_locales language, goes nowhere and issues nothing;
// without ui_locales the same refusal is in English.
func TestUILocalesOnAuthorizeErrorPage(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	for _, tc := range []struct {
		client, redirect, ui, want string
	}{
		{"nobody", brokertest.AppCB, "cy", "Rhaglen anhysbys"},
		{"web", "https://evil.example/cb", "cy-GB en", "Cyfeiriad dychwelyd annilys"},
		{"nobody", brokertest.AppCB, "", "Unknown application"},
	} {
		q := brokertest.NewAuthzReq(tc.client, tc.redirect, "openid")
		if tc.ui != "" {
			q.Params.Set("ui_locales", tc.ui)
		}
		o := e.Start(b, q)
		if o.App != nil || o.Status != http.StatusBadRequest || !strings.Contains(o.Page, "<h1>"+tc.want+"</h1>") {
			t.Errorf("%s %s ui_locales=%q: %d, app %v, page lacks %q:\n%s", tc.client, tc.redirect, tc.ui, o.Status, o.App, tc.want, o.Page)
		}
	}
	e.WantNothingIssued(t)
}
