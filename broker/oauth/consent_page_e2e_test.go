package oauth_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestConsentPageExplains: each permission leads with what it lets the app do,
// its scope name after it, small; the requested permissions that will not be
// granted are listed with why (alice's role does not allow admin; web is not
// registered for calendar.read); nothing not granted is issued.
func TestConsentPageExplains(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read admin calendar.read")
	o := e.Start(b, q)
	if !regexp.MustCompile(`data-testid="consent-scope-notes.read"[^>]*><span class="scope-text">Read your notes</span> <code class="scope-name">notes.read</code>`).MatchString(o.Page) {
		t.Errorf("notes.read does not lead with its description:\n%s", o.Page)
	}
	for _, want := range []string{`data-testid="consent-refused-admin" data-reason="role"`, "your role does not allow it",
		`data-testid="consent-refused-calendar.read" data-reason="client"`, "this app is not registered for it"} {
		if !strings.Contains(o.Page, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(o.Page, `data-testid="consent-scope-admin"`) || strings.Contains(o.Page, `data-testid="consent-insecure"`) {
		t.Errorf("admin offered, or an https app warned about:\n%s", o.Page)
	}
	o = e.Decide(b, o.Page, "approve")
	_, tok := e.Redeem("web", o.Fields.Get("code"), q.Verifier, brokertest.AppCB)
	if sc, _ := tok["scope"].(string); sc != "openid notes.read" {
		t.Errorf("granted %q", sc)
	}
}

// TestConsentNewOnlyWhatWasNotApprovedBefore: prompt=consent asks again, but
// "new" marks only the permission the person has not approved before.
func TestConsentNewOnlyWhatWasNotApprovedBefore(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	e.Code(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read"))
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read notes.write")
	q.Params.Set("prompt", "consent")
	o := e.Start(b, q)
	for _, want := range []string{`data-testid="consent-scope-notes.read" data-new="false"`, `data-testid="consent-scope-openid" data-new="false"`,
		`data-testid="consent-scope-notes.write" data-new="true"`} {
		if !strings.Contains(o.Page, want) {
			t.Errorf("consent page lacks %s", want)
		}
	}
}

// TestConsentWarnsOfInsecureThirdPartyReturn: an app that is not first-party
// and returns to an http address (the native app's loopback) is flagged.
func TestConsentWarnsOfInsecureThirdPartyReturn(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	o := e.Start(b, brokertest.NewAuthzReq("native", "http://127.0.0.1/cb", "openid notes.read"))
	if !strings.Contains(o.Page, `data-testid="consent-insecure"`) || !strings.Contains(o.Page, "127.0.0.1") {
		t.Errorf("no warning:\n%s", o.Page)
	}
}

// TestWEB17_ConsentShowsRegisteredHomePage: the consent page names the app's
// home page as registered (client_uri) and links it, only when it is https; a
// javascript: one that reached the database is not rendered at all.
func TestWEB17_ConsentShowsRegisteredHomePage(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t, func(c *store.Client) {
		switch c.ID {
		case "web":
			c.ClientURI = "https://app.test/about"
		case "web2":
			c.ClientURI = "javascript:alert(1)"
		}
	})
	b := e.SignedIn()
	o := e.Start(b, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read"))
	if !strings.Contains(o.Page, `<a href="https://app.test/about" rel="noreferrer noopener" data-testid="consent-home">app.test</a>`) ||
		!strings.Contains(o.Page, `data-testid="consent-logo"`) {
		t.Errorf("no home page or logo:\n%s", o.Page)
	}
	o = e.Start(b, brokertest.NewAuthzReq("web2", "https://app2.test/cb", "openid notes.read"))
	if strings.Contains(o.Page, "consent-home") || strings.Contains(o.Page, "javascript:") {
		t.Errorf("an unsafe home page rendered:\n%s", o.Page)
	}
}
