package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// publicAdminRoutes are the routes below /admin and /api/admin that are not
// for admins: the bootstrap link (its own token, TestBootstrap) and the OpenAPI
// document (nothing secret).
var publicAdminRoutes = map[string]bool{
	"GET " + admin.BootstrapPath:     true,
	"POST " + admin.BootstrapPath:    true,
	"GET /api/admin/v1/openapi.json": true,
}

// adminRoutes lists every routed admin pattern, from the route table.
func adminRoutes(t *testing.T, w *world) []string {
	var out []string
	for _, p := range w.Srv().Routes() {
		_, path, _ := strings.Cut(p, " ")
		if (path == "/admin" || strings.HasPrefix(path, "/admin/") || strings.HasPrefix(path, "/api/admin/")) && !publicAdminRoutes[p] {
			out = append(out, p)
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d admin routes found: %q", len(out), out)
	}
	return out
}

// TestADM01_EveryAdminRouteRefusesNonAdmins calls every admin route of the
// route table, with each method it is routed for (and HEAD beside GET, and
// OPTIONS), as anonymous, as a signed-in non-admin, as an admin whose sign-in
// is stale, and (the API) with a token lacking the admin scope: a sign-in
// redirect or 401, 403, the re-authentication redirect, 403. Nothing changes.
func TestADM01_EveryAdminRouteRefusesNonAdmins(t *testing.T) {
	w := newWorld(t)
	member, _ := w.signIn("bob@uni.example")
	stale, _ := w.signIn("alice@corp.example")
	anonymous := brokertest.NewClient(w.SigninEnv)
	otherToken := w.token("svc", "")
	before := w.api("notes")
	created := len(w.events("api.created")) // the Admin API's, at startup
	routes := adminRoutes(t, w)

	type want struct {
		status int
		login  bool // a redirect to /login
	}
	do := func(t *testing.T, c *http.Client, method, path, tok string, want want) {
		t.Helper()
		req, _ := http.NewRequest(method, w.Abs(path), strings.NewReader(`{"name":"Changed","audience":"https://changed.test","version":1}`))
		if method == http.MethodPost && !strings.HasPrefix(path, "/api/") {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Body = http.NoBody
			req.Header.Set("Origin", w.TS.URL)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := c.Do(req)
		brokertest.Must(t, err)
		res.Body.Close()
		if res.StatusCode != want.status {
			t.Errorf("%s %s: %d, want %d", method, path, res.StatusCode, want.status)
		}
		if loc := res.Header.Get("Location"); want.login && !strings.HasPrefix(loc, "/login?") {
			t.Errorf("%s %s: Location %q, want the sign-in page", method, path, loc)
		}
		if want.status == 401 && res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate (RFC 6750 §3)", method, path)
		}
		if want.status == 403 && strings.HasPrefix(path, "/api/") && !strings.Contains(res.Header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Errorf("%s %s: 403 without insufficient_scope: %q", method, path, res.Header.Get("WWW-Authenticate"))
		}
	}
	check := func(t *testing.T, stage string) {
		for _, pattern := range routes {
			method, path, _ := strings.Cut(pattern, " ")
			path = strings.ReplaceAll(path, "{id}", "notes")
			api := strings.HasPrefix(path, "/api/")
			methods := []string{method}
			if method == http.MethodGet {
				methods = append(methods, http.MethodHead)
			}
			for _, m := range methods {
				switch {
				case stage == "anonymous" && api:
					do(t, anonymous, m, path, "", want{status: 401})
				case stage == "anonymous":
					do(t, anonymous, m, path, "", want{status: 303, login: true})
				case stage == "member" && api:
					do(t, member, m, path, otherToken, want{status: 403})
				case stage == "member":
					do(t, member, m, path, "", want{status: 403})
				case stage == "stale" && api:
					do(t, stale, m, path, "", want{status: 401})
				case stage == "stale":
					do(t, stale, m, path, "", want{status: 303, login: true})
				}
			}
			// OPTIONS is routed nowhere: refused whoever asks.
			req, _ := http.NewRequest(http.MethodOptions, w.Abs(path), nil)
			if res, err := stale.Do(req); err != nil || res.StatusCode < 400 {
				t.Errorf("OPTIONS %s: %v %v, want a refusal", path, res.Status, err)
			}
		}
	}
	t.Run("anonymous", func(t *testing.T) { check(t, "anonymous") })
	t.Run("member", func(t *testing.T) { check(t, "member") })
	w.Clk.Add(16 * time.Minute) // past GATEHOUSE_ADMIN_MAX_AGE (15m)
	t.Run("stale", func(t *testing.T) { check(t, "stale") })

	if after := w.api("notes"); after.Name != before.Name || after.Version != before.Version {
		t.Fatalf("a refused call changed the API: %+v", after)
	}
	if n := len(w.events("api.created")); n != created {
		t.Errorf("%d api.created events, want %d", n, created)
	}
	for _, action := range []string{"api.updated", "api.deleted"} {
		if n := len(w.events(action)); n != 0 {
			t.Errorf("%d %s events", n, action)
		}
	}
}

// TestADM05_StaleAdminSignsInAgain: an admin whose sign-in is older than
// GATEHOUSE_ADMIN_MAX_AGE is sent to sign in again at their provider with
// prompt=login (OIDC Core §3.1.2.1), and returns to the page they asked for.
func TestADM05_StaleAdminSignsInAgain(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	if res, page := w.page(c, "/admin/apis"); res.StatusCode != 200 || !strings.Contains(page, `data-testid="admin-apis"`) {
		t.Fatalf("fresh admin: %d", res.StatusCode)
	}
	w.Clk.Add(16 * time.Minute)
	res := w.Get(c, "/admin/apis")
	wantLoc := "/login?" + url.Values{"return_to": {"/admin/apis"}}.Encode()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != wantLoc {
		t.Fatalf("stale admin: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, page := w.Follow(c, res)
	f := brokertest.FormFields(t, page, "/login")
	f.Set("email", "alice@corp.example")
	res, page = w.Follow(c, w.PostForm(c, "/login", f))
	if res.StatusCode != 200 || res.Request.URL.Path != "/admin/apis" || !strings.Contains(page, `data-testid="admin-apis"`) {
		t.Fatalf("after signing in again: %d at %s", res.StatusCode, res.Request.URL)
	}
	reqs := w.OIDC.AuthorizeRequests()
	if last := reqs[len(reqs)-1]; last.Get("prompt") != "login" {
		t.Fatalf("the provider was not asked for a fresh sign-in: %v", last)
	}
}

// TestWEB03_AdminFormsNeedCSRF: every console form, posted by a fresh admin
// without its CSRF token or with another form's, is refused and changes nothing.
func TestWEB03_AdminFormsNeedCSRF(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	_, page := w.page(c, "/admin/apis/notes")
	otherToken := brokertest.FormFields(t, page, "/admin/apis/notes").Get("csrf_token")
	n := 0
	for _, pattern := range adminRoutes(t, w) {
		method, path, _ := strings.Cut(pattern, " ")
		if method != http.MethodPost || strings.HasPrefix(path, "/api/") {
			continue
		}
		n++
		path = strings.ReplaceAll(path, "{id}", "notes")
		for name, tok := range map[string]string{"none": "", "another form's": otherToken} {
			if path == "/admin/apis/notes" && name != "none" {
				continue // that token is this form's own
			}
			f := url.Values{"name": {"Changed"}, "audience": {"https://changed.test"}, "version": {"1"}, "id": {"new1"}}
			if tok != "" {
				f.Set("csrf_token", tok)
			}
			res := w.PostForm(c, path, f)
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %s token: %d, want 403", path, name, res.StatusCode)
			}
		}
	}
	if n < 3 {
		t.Fatalf("only %d admin forms", n)
	}
	if a := w.api("notes"); a.Name != "Notes" {
		t.Fatalf("changed: %+v", a)
	}
	if apis, _ := w.DB.APIs().List(t.Context()); len(apis) != 2 {
		t.Fatalf("APIs %+v, want notes and the Admin API", apis)
	}
}

// TestConsoleAPIs: an admin adds, edits and deletes an API in the console;
// each change is an audit event naming the admin, via the console (ADM-16).
func TestConsoleAPIs(t *testing.T) {
	w := newWorld(t)
	c, aliceID := w.signIn("alice@corp.example")
	res, page := w.page(c, "/admin")
	if res.StatusCode != 200 || !strings.Contains(page, `data-testid="admin-name">Alice<`) {
		t.Fatalf("home: %d %s", res.StatusCode, page)
	}
	_, page = w.page(c, "/admin/apis/new")
	res, _ = w.submit(c, page, "/admin/apis/new", url.Values{"id": {"tasks"}, "name": {"Tasks"},
		"audience": {"https://tasks.test"}, "scopes": {"tasks.read | Read your tasks\ntasks.write | Change your tasks | editor admin"},
		"delegation_allowed": {"on"}, "delegation_max_duration": {"24h"}, "delegation_scopes": {"tasks.read"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", res.StatusCode)
	}
	a := w.api("tasks")
	if a.Name != "Tasks" || len(a.Scopes) != 2 || a.Scopes[1].Description != "Change your tasks" ||
		strings.Join(a.Scopes[1].Roles, " ") != "editor admin" || !a.Delegation.Allowed || a.Delegation.MaxDuration != 24*time.Hour {
		t.Fatalf("stored %+v", a)
	}
	if _, page = w.page(c, "/admin/apis"); !strings.Contains(page, `data-testid="api-tasks"`) {
		t.Fatal("not listed")
	}
	evs := w.events("api.created")
	if len(evs) == 0 || evs[0].Target != "tasks" || evs[0].Actor != aliceID || !strings.Contains(string(evs[0].Details), `"via":"console"`) {
		t.Fatalf("api.created events %+v, want one by %s via the console", evs, aliceID)
	}

	// Edit.
	_, page = w.page(c, "/admin/apis/tasks")
	res, _ = w.submit(c, page, "/admin/apis/tasks", url.Values{"name": {"Tasks v2"}})
	if res.StatusCode != http.StatusSeeOther || w.api("tasks").Name != "Tasks v2" {
		t.Fatalf("update: %d %+v", res.StatusCode, w.api("tasks"))
	}

	// Delete, after confirming.
	_, page = w.page(c, "/admin/apis/tasks/delete")
	if !strings.Contains(page, "Tasks v2") {
		t.Fatal("the confirmation does not name the API")
	}
	res, _ = w.submit(c, page, "/admin/apis/tasks/delete", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	if _, err := w.DB.APIs().Get(t.Context(), "tasks"); err == nil {
		t.Fatal("still stored")
	}
	for _, action := range []string{"api.updated", "api.deleted"} {
		if evs := w.events(action); len(evs) != 1 || evs[0].Actor != aliceID {
			t.Errorf("%s events %+v", action, evs)
		}
	}
}

// TestDATA11_ConsoleStaleEdit: two admins open the same API; the second save
// is refused (409), shows what is stored now beside the edit not saved, and the
// first edit stays.
func TestDATA11_ConsoleStaleEdit(t *testing.T) {
	w := newWorld(t)
	one, _ := w.signIn("alice@corp.example")
	two, _ := w.signIn("alice@corp.example")
	_, page1 := w.page(one, "/admin/apis/notes")
	_, page2 := w.page(two, "/admin/apis/notes")
	if res, _ := w.submit(one, page1, "/admin/apis/notes", url.Values{"name": {"First"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first save: %d", res.StatusCode)
	}
	res, page := w.submit(two, page2, "/admin/apis/notes", url.Values{"name": {"Second"}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(page, `data-testid="api-conflict"`) ||
		!strings.Contains(page, "Second") || !strings.Contains(page, `value="First"`) {
		t.Fatalf("stale save: %d %s", res.StatusCode, page)
	}
	if a := w.api("notes"); a.Name != "First" {
		t.Fatalf("stored %q", a.Name)
	}
	if n := len(w.events("api.updated")); n != 1 {
		t.Fatalf("%d api.updated events", n)
	}
}

// TestAdminHomeForbiddenToMembers: a signed-in person without the admin role
// gets 403, and becomes admin once granted the role (store.Roles) without a
// role rule.
func TestAdminGrantedRole(t *testing.T) {
	w := newWorld(t)
	c, bobID := w.signIn("bob@uni.example")
	if res, _ := w.page(c, "/admin"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("member: %d", res.StatusCode)
	}
	brokertest.Must(t, w.ops().GrantRole(t.Context(), opsActor, bobID, store.RoleAdmin))
	if res, _ := w.page(c, "/admin"); res.StatusCode != 200 {
		t.Fatalf("granted admin: %d", res.StatusCode)
	}
}
