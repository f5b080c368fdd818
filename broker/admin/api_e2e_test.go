package admin_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestAdminAPIAPIs: a client given gatehouse:admin lists, creates, reads,
// replaces and deletes APIs; each change is an audit event naming the client,
// via the API (ADM-16); errors are RFC 9457 problem details.
func TestAdminAPIAPIs(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")

	status, h, body := w.call("POST", "/api/admin/v1/apis", tok, map[string]any{"id": "tasks", "name": "Tasks",
		"audience": "https://tasks.test", "scopes": []any{map[string]any{"name": "tasks.read", "description": "Read your tasks"},
			map[string]any{"name": "tasks.write", "roles": []any{"editor"}}},
		"delegation": map[string]any{"allowed": true, "max_duration": "24h", "scopes": []any{"tasks.read"}}})
	if status != http.StatusCreated || body["version"] != 1.0 || h.Get("Location") != "/api/admin/v1/apis/tasks" {
		t.Fatalf("create: %d %v %v", status, h, body)
	}
	if a := w.api("tasks"); len(a.Scopes) != 2 || a.Scopes[1].Roles[0] != "editor" || !a.Delegation.Allowed {
		t.Fatalf("stored %+v", a)
	}
	status, _, body = w.call("GET", "/api/admin/v1/apis", tok, nil)
	if list, _ := body["apis"].([]any); status != 200 || len(list) != 3 {
		t.Fatalf("list: %d %v", status, body)
	}
	status, _, body = w.call("GET", "/api/admin/v1/apis/tasks", tok, nil)
	if status != 200 || body["name"] != "Tasks" {
		t.Fatalf("get: %d %v", status, body)
	}

	// Replace from version 1; a second replacement from version 1 is stale (DATA-11).
	put := map[string]any{"name": "Tasks v2", "audience": "https://tasks.test", "version": 1}
	if status, _, body = w.call("PUT", "/api/admin/v1/apis/tasks", tok, put); status != 200 || body["version"] != 2.0 {
		t.Fatalf("put: %d %v", status, body)
	}
	put["name"] = "Lost update"
	status, h, body = w.call("PUT", "/api/admin/v1/apis/tasks", tok, put)
	wantProblem(t, "stale put", status, h, body, http.StatusConflict)
	if a := w.api("tasks"); a.Name != "Tasks v2" {
		t.Fatalf("a stale put was stored: %q", a.Name)
	}

	// Invalid input: every problem listed.
	status, h, body = w.call("POST", "/api/admin/v1/apis", tok, map[string]any{"audience": "not a uri#x",
		"scopes": []any{map[string]any{"name": "a"}, map[string]any{"name": "a"}}})
	wantProblem(t, "invalid", status, h, body, http.StatusUnprocessableEntity)
	if errs, _ := body["errors"].([]any); len(errs) < 3 {
		t.Fatalf("errors %v, want each problem", body["errors"])
	}
	status, h, body = w.call("GET", "/api/admin/v1/apis/nope", tok, nil)
	wantProblem(t, "unknown", status, h, body, http.StatusNotFound)
	status, h, body = w.call("DELETE", "/api/admin/v1/apis/"+admin.APIID, tok, nil)
	wantProblem(t, "delete the built-in API", status, h, body, http.StatusConflict)

	if status, _, _ = w.call("DELETE", "/api/admin/v1/apis/tasks", tok, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	for _, action := range []string{"api.created", "api.updated", "api.deleted"} {
		evs := w.events(action)
		if len(evs) == 0 || evs[0].Target != "tasks" || evs[0].Actor != "client:robot" || !strings.Contains(string(evs[0].Details), `"via":"api"`) {
			t.Errorf("%s events %+v, want the latest on tasks by client:robot via the API", action, evs)
		}
	}
	// ADM-12: neither the token nor the client's secret reaches the logs.
	if logs := w.Logs.String(); strings.Contains(logs, tok) || strings.Contains(logs, w.secrets["robot"]) {
		t.Error("the logs hold the bearer token or the client secret")
	}
}

// TestAdminAPIAuthorization: no token → 401 with WWW-Authenticate (RFC 6750
// §3); a bad token → 401 invalid_token; a good token for another API, or
// without gatehouse:admin → 403 insufficient_scope (RFC 6750 §3.1).
func TestAdminAPIAuthorization(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name, tok string
		status    int
		wwwAuth   string
	}{
		{"no token", "", 401, `Bearer realm="gatehouse-admin"`},
		{"garbage", "not.a.token", 401, `error="invalid_token"`},
		{"another API's token", w.token("svc", ""), 403, `error="insufficient_scope"`},
		{"the Admin API without the scope", w.token("svc", w.Srv().Admin().Audience()), 403, `error="insufficient_scope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := w.call("GET", "/api/admin/v1/apis", tc.tok, nil)
			wantProblem(t, tc.name, status, h, body, tc.status)
			if !strings.Contains(h.Get("WWW-Authenticate"), tc.wwwAuth) {
				t.Errorf("WWW-Authenticate %q, want %s", h.Get("WWW-Authenticate"), tc.wwwAuth)
			}
		})
	}
}

// TestADM03_MassAssignment: a body with a field the API does not document
// (is_admin, created_at, client_secret_hash) is refused with 400, and the
// store is unchanged.
func TestADM03_MassAssignment(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	before := w.api("notes")
	for _, field := range []string{"is_admin", "created_at", "client_secret_hash", "Version"} {
		t.Run(field, func(t *testing.T) {
			for _, call := range []struct{ method, path string }{{"PUT", "/api/admin/v1/apis/notes"}, {"POST", "/api/admin/v1/apis"}} {
				body := map[string]any{"name": "Changed", "audience": "https://changed.test", field: true}
				if call.method == "PUT" {
					body["version"] = before.Version
				}
				status, h, problem := w.call(call.method, call.path, tok, body)
				wantProblem(t, call.method, status, h, problem, http.StatusBadRequest)
			}
		})
	}
	if after := w.api("notes"); after.Name != before.Name || after.Version != before.Version {
		t.Fatalf("changed: %+v", after)
	}
	if apis, _ := w.DB.APIs().List(t.Context()); len(apis) != 2 {
		t.Fatalf("APIs %+v", apis)
	}
	if n := len(w.events("api.updated")); n != 0 {
		t.Fatalf("%d api.updated events", n)
	}
}

// TestAdminAPIOpenAPIMatchesRoutes: every admin API route is in the OpenAPI
// document, and every documented path and method is routed.
func TestAdminAPIOpenAPIMatchesRoutes(t *testing.T) {
	w := newWorld(t)
	res, page := w.page(w.TS.Client(), "/api/admin/v1/openapi.json")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("openapi.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(page), &doc); err != nil || doc.OpenAPI != "3.1.0" || len(doc.Servers) != 1 {
		t.Fatalf("document: %v %+v", err, doc)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+doc.Servers[0].URL+path] = true
		}
	}
	routed := map[string]bool{}
	for _, p := range w.Srv().Routes() {
		if _, path, _ := strings.Cut(p, " "); strings.HasPrefix(path, "/api/admin/") {
			routed[p] = true
			if !documented[p] {
				t.Errorf("route %q is not in the OpenAPI document", p)
			}
		}
	}
	for p := range documented {
		if !routed[p] {
			t.Errorf("the OpenAPI document has %q, which is not routed", p)
		}
	}
	if len(routed) < 6 {
		t.Fatalf("only %d admin API routes: %v", len(routed), slices.Collect(maps.Keys(routed)))
	}
}

// wantProblem asserts an RFC 9457 problem details answer with status.
func wantProblem(t *testing.T, what string, status int, h http.Header, body map[string]any, want int) {
	t.Helper()
	if status != want {
		t.Fatalf("%s: %d %v, want %d", what, status, body, want)
	}
	if h.Get("Content-Type") != "application/problem+json" || body["status"] != float64(want) || body["title"] == nil || body["type"] == nil {
		t.Fatalf("%s: not problem details: %s %v", what, h.Get("Content-Type"), body)
	}
}

// TestAdminAPIWithAnAdminsOwnToken: a person granted the admin role (no role
// rule) gets gatehouse:admin in their own token (authorization code), and their
// calls are audited under their user ID; before the grant the scope is not
// given and the call is 403.
func TestAdminAPIWithAnAdminsOwnToken(t *testing.T) {
	e := brokertest.NewAuthzEnv(t, func(c *store.Client) { c.Scopes = append(c.Scopes, admin.Scope) })
	adminAud := e.Srv().Admin().Audience()
	web, err := e.DB.Clients().Get(t.Context(), "web")
	brokertest.Must(t, err)
	web.Audiences = []string{adminAud}
	brokertest.Must(t, e.DB.Clients().Update(t.Context(), web))
	c := e.SignedIn()
	us, err := e.DB.Users().FindByEmail(t.Context(), "alice@oidc.example")
	brokertest.Must(t, err)
	alice := us[0].ID

	tokenFor := func() (string, string) {
		q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid "+admin.Scope)
		q.Params.Set("resource", adminAud)
		cb := e.Code(c, q)
		status, body := e.Redeem("web", cb.Get("code"), q.Verifier, brokertest.AppCB)
		if status != 200 {
			t.Fatalf("token: %d %v", status, body)
		}
		tok, _ := body["access_token"].(string)
		scope, _ := body["scope"].(string)
		return tok, scope
	}
	call := func(tok string) int {
		req, _ := http.NewRequest("POST", e.Abs("/api/admin/v1/apis"), strings.NewReader(`{"id":"mine","name":"Mine","audience":"https://mine.test"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := e.TS.Client().Do(req)
		brokertest.Must(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	if tok, scope := tokenFor(); strings.Contains(scope, admin.Scope) || call(tok) != http.StatusForbidden {
		t.Fatalf("before the grant: scope %q", scope)
	}
	ops := &operations.Service{Store: e.DB, Audit: e.Audits[0], Now: e.Clk.Now}
	brokertest.Must(t, ops.GrantRole(t.Context(), opsActor, alice, store.RoleAdmin))
	tok, scope := tokenFor()
	if !strings.Contains(scope, admin.Scope) {
		t.Fatalf("after the grant: scope %q", scope)
	}
	if status := call(tok); status != http.StatusCreated {
		t.Fatalf("create with the admin's token: %d", status)
	}
	if evs, _ := e.DB.Audit().List(t.Context(), store.AuditFilter{Action: "api.created", Target: "mine"}); len(evs) != 1 || evs[0].Actor != alice {
		t.Fatalf("api.created %+v, want by %s", evs, alice)
	}

	// ADM-05: a token refreshed from a sign-in older than GATEHOUSE_ADMIN_MAX_AGE
	// is refused with RFC 9470's step-up challenge.
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid "+admin.Scope)
	q.Params.Set("resource", adminAud)
	cb := e.Code(c, q)
	_, body := e.Redeem("web", cb.Get("code"), q.Verifier, brokertest.AppCB)
	rt, _ := body["refresh_token"].(string)
	e.Clk.Add(16 * time.Minute)
	status, body := e.Refresh("web", rt)
	stale, _ := body["access_token"].(string)
	if status != 200 || stale == "" {
		t.Fatalf("refresh: %d %v", status, body)
	}
	req, _ := http.NewRequest("GET", e.Abs("/api/admin/v1/apis"), nil)
	req.Header.Set("Authorization", "Bearer "+stale)
	res, err := e.TS.Client().Do(req)
	brokertest.Must(t, err)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="insufficient_user_authentication", max_age="900"`) {
		t.Fatalf("stale admin token: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
}

// TestAdminAPIDeleteAPIInUse: an API an app still names is not deleted by the
// API (409 naming the app; nothing changed), as the CLI refuses it without
// --force; unlink_clients=true removes it from the app first (client.updated
// recorded), then deletes it.
func TestAdminAPIDeleteAPIInUse(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	if status, _, body := w.call("POST", "/api/admin/v1/apis", tok, map[string]any{"id": "tasks", "name": "Tasks",
		"audience": "https://tasks.test", "scopes": []any{map[string]any{"name": "tasks.read"}}}); status != http.StatusCreated {
		t.Fatalf("create API: %d %v", status, body)
	}
	if status, _, body := w.call("POST", "/api/admin/v1/clients", tok, map[string]any{"id": "planner", "name": "Planner",
		"grant_types": []any{"client_credentials"}, "default_api": "https://tasks.test", "scopes": []any{"tasks.read"}}); status != http.StatusCreated {
		t.Fatalf("create client: %d %v", status, body)
	}
	status, h, body := w.call("DELETE", "/api/admin/v1/apis/tasks", tok, nil)
	wantProblem(t, "delete in use", status, h, body, http.StatusConflict)
	if d, _ := body["detail"].(string); !strings.Contains(d, "the clients planner use it") {
		t.Errorf("detail %q does not name the client", d)
	}
	if a := w.api("tasks"); a.ID != "tasks" {
		t.Fatal("a refused delete removed the API")
	}
	if c, _ := w.DB.Clients().Get(t.Context(), "planner"); c.DefaultAudience != "https://tasks.test" {
		t.Fatalf("a refused delete changed the client: %+v", c)
	}
	if status, _, body = w.call("DELETE", "/api/admin/v1/apis/tasks?unlink_clients=true", tok, nil); status != http.StatusNoContent {
		t.Fatalf("delete with unlink_clients: %d %v", status, body)
	}
	if c, _ := w.DB.Clients().Get(t.Context(), "planner"); c.DefaultAudience != "" {
		t.Fatalf("client after unlink: %+v", c)
	}
	if evs := w.events("client.updated"); len(evs) == 0 || evs[0].Target != "planner" {
		t.Errorf("client.updated events %+v", evs)
	}
}
