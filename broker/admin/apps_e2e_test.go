package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// testidValue returns the value attribute of the element with data-testid id
// in page ("" if there is none).
func testidValue(t *testing.T, page, id string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	brokertest.Must(t, err)
	var find func(n *html.Node) string
	find = func(n *html.Node) string {
		if n.Type == html.ElementNode && brokertest.Attr(n, "data-testid") == id {
			return brokertest.Attr(n, "value")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if v := find(c); v != "" {
				return v
			}
		}
		return ""
	}
	return find(doc)
}

// TestConsoleApps: an admin adds an app in the console (its secret shown on
// that page only: ADM-12), finds it in the list, edits it, rotates its secret
// after a confirmation (the new one shown once) and deletes it after a
// confirmation saying what ends; each change is an audit event naming the
// admin via the console (ADM-16); no other page and no log line holds a secret.
func TestConsoleApps(t *testing.T) {
	w := newWorld(t)
	c, aliceID := w.signIn("alice@corp.example")
	if _, page := w.page(c, "/admin"); !strings.Contains(page, `href="/admin/apps"`) {
		t.Fatal("the home does not link to the apps")
	}
	_, page := w.page(c, "/admin/apps/new")
	res, page := w.submit(c, page, "/admin/apps/new", url.Values{"id": {"portal"}, "name": {"Portal"},
		"redirect_uris": {"https://portal.test/cb\nhttps://portal.test/cb2"}, "scopes": {"openid notes.read"},
		"default_api": {notesAudience}, "first_party": {"on"}, "access_token_ttl": {"5m"}})
	secret := testidValue(t, page, "app-secret")
	if res.StatusCode != http.StatusOK || secret == "" || !strings.Contains(page, `data-testid="admin-app-secret"`) {
		t.Fatalf("create: %d %s", res.StatusCode, page)
	}
	app := w.client("portal")
	if !registry.SecretMatches(app.SecretHash, secret) || app.Name != "Portal" || len(app.RedirectURIs) != 2 || !app.FirstParty ||
		app.AccessTokenTTL != 5*time.Minute || strings.Join(app.GrantTypes, " ") != "authorization_code refresh_token" {
		t.Fatalf("stored %+v", app)
	}
	evs := w.events("client.created")
	if len(evs) != 1 || evs[0].Target != "portal" || evs[0].Actor != aliceID || !strings.Contains(string(evs[0].Details), `"via":"console"`) {
		t.Fatalf("client.created events %+v, want one by %s via the console", evs, aliceID)
	}
	_, page = w.page(c, "/admin/apps")
	if !strings.Contains(page, `data-testid="app-portal"`) || !strings.Contains(page, "confidential") {
		t.Fatal("not listed")
	}
	noSecret(t, "the list", page, secret, w.secrets["robot"], w.secrets["svc"])

	// Edit: the form holds no secret; the save keeps it.
	_, page = w.page(c, "/admin/apps/portal")
	noSecret(t, "the edit form", page, secret)
	if !strings.Contains(page, `data-testid="app-secret-state"`) || !strings.Contains(page, "never shown again") {
		t.Fatal("the edit form does not say a secret is set")
	}
	res, _ = w.submit(c, page, "/admin/apps/portal", url.Values{"name": {"Portal v2"}, "first_party": nil,
		"exchange_token_types": {registry.TokenTypeAccessToken}, "grant_types": {"authorization_code refresh_token " + registry.GrantTokenExchange}})
	app = w.client("portal")
	if res.StatusCode != http.StatusSeeOther || app.Name != "Portal v2" || app.FirstParty || app.Version != 2 ||
		!registry.SecretMatches(app.SecretHash, secret) || len(app.ExchangeTokenTypes) != 1 || app.AccessTokenTTL != 5*time.Minute {
		t.Fatalf("update: %d %+v", res.StatusCode, app)
	}

	// Rotate, after confirming.
	_, page = w.page(c, "/admin/apps/portal/rotate-secret")
	if !strings.Contains(page, "stops working at once") {
		t.Fatal("the confirmation does not say what happens to the old secret")
	}
	res, page = w.submit(c, page, "/admin/apps/portal/rotate-secret", nil)
	rotated := testidValue(t, page, "app-secret")
	if res.StatusCode != http.StatusOK || rotated == "" || rotated == secret || !registry.SecretMatches(w.client("portal").SecretHash, rotated) {
		t.Fatalf("rotate: %d %s", res.StatusCode, page)
	}
	_, page = w.page(c, "/admin/apps/portal")
	noSecret(t, "the edit form after a rotation", page, secret, rotated)

	// Delete, after a confirmation saying what ends.
	_, page = w.page(c, "/admin/apps/portal/delete")
	if !strings.Contains(page, "Portal v2") || !strings.Contains(page, "revoked at once") || !strings.Contains(page, "consents") {
		t.Fatalf("the confirmation does not say what ends: %s", page)
	}
	res, _ = w.submit(c, page, "/admin/apps/portal/delete", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	if _, err := w.DB.Clients().Get(t.Context(), "portal"); err == nil {
		t.Fatal("still stored")
	}
	for _, action := range []string{"client.updated", "client.secret_rotated", "client.deleted"} {
		evs := w.events(action)
		if len(evs) != 1 || evs[0].Actor != aliceID || !strings.Contains(string(evs[0].Details), `"via":"console"`) {
			t.Errorf("%s events %+v", action, evs)
		}
	}
	noSecret(t, "the logs", w.Logs.String(), secret, rotated)
}

// TestConsoleAppInvalid: a form with problems is shown again with every
// problem (422) and nothing is stored.
func TestConsoleAppInvalid(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	_, page := w.page(c, "/admin/apps/new")
	res, page := w.submit(c, page, "/admin/apps/new", url.Values{"id": {"bad"}, "grant_types": {"password authorization_code"},
		"logo_uri": {"http://logo.test/x.png"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="app-problems"`) ||
		strings.Count(page, "<li>") < 3 {
		t.Fatalf("invalid create: %d %s", res.StatusCode, page)
	}
	_, page = w.page(c, "/admin/apps/new")
	res, page = w.submit(c, page, "/admin/apps/new", url.Values{"id": {"bad"}, "access_token_ttl": {"soon"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "not a duration") {
		t.Fatalf("invalid lifetime: %d %s", res.StatusCode, page)
	}
	if _, err := w.DB.Clients().Get(t.Context(), "bad"); err == nil {
		t.Fatal("an invalid app was stored")
	}
	if n := len(w.events("client.created")); n != 0 {
		t.Fatalf("%d client.created events", n)
	}
}

// TestDATA11_ConsoleStaleAppEdit: two admins open the same app; the second
// save is refused (409) and shows what it would have changed beside what is
// stored, and the first edit stays. An edit from before a secret rotation is
// stale too (SECURITY.md DATA-11: "enable exchange while rotating").
func TestDATA11_ConsoleStaleAppEdit(t *testing.T) {
	w := newWorld(t)
	one, _ := w.signIn("alice@corp.example")
	two, _ := w.signIn("alice@corp.example")
	_, page1 := w.page(one, "/admin/apps/svc")
	_, page2 := w.page(two, "/admin/apps/svc")
	if res, _ := w.submit(one, page1, "/admin/apps/svc", url.Values{"name": {"First"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first save: %d", res.StatusCode)
	}
	res, page := w.submit(two, page2, "/admin/apps/svc", url.Values{"name": {"Second"}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(page, `data-testid="app-conflict"`) ||
		!strings.Contains(page, "Second") || !strings.Contains(page, `value="First"`) {
		t.Fatalf("stale save: %d %s", res.StatusCode, page)
	}
	if c := w.client("svc"); c.Name != "First" || c.Version != 2 {
		t.Fatalf("stored %q version %d", c.Name, c.Version)
	}

	_, page = w.page(two, "/admin/apps/svc")
	_, confirm := w.page(one, "/admin/apps/svc/rotate-secret")
	if res, _ := w.submit(one, confirm, "/admin/apps/svc/rotate-secret", nil); res.StatusCode != http.StatusOK {
		t.Fatalf("rotate: %d", res.StatusCode)
	}
	res, page = w.submit(two, page, "/admin/apps/svc", url.Values{"exchange_token_types": {registry.TokenTypeAccessToken},
		"grant_types": {"client_credentials " + registry.GrantTokenExchange}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(page, `data-testid="app-conflict"`) {
		t.Fatalf("save from before the rotation: %d %s", res.StatusCode, page)
	}
	if c := w.client("svc"); len(c.ExchangeTokenTypes) != 0 || c.Version != 3 {
		t.Fatalf("stored %+v", c)
	}
	if n := len(w.events("client.updated")); n != 1 {
		t.Fatalf("%d client.updated events", n)
	}
}
