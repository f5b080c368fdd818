package admin_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// grants returns the roles granted to userID.
func (w *world) grants(userID string) []string {
	w.t.Helper()
	gs, err := w.DB.Roles().ListForUser(w.t.Context(), userID)
	brokertest.Must(w.t, err)
	var out []string
	for _, g := range gs {
		out = append(out, g.Role)
	}
	return out
}

func (w *world) user(id string) store.User {
	w.t.Helper()
	u, err := w.DB.Users().Get(w.t.Context(), id)
	brokertest.Must(w.t, err)
	return u
}

// wantEvent asserts that the latest event of action is about target, by
// actor, via via (ADM-16), and that there are n of them.
func (w *world) wantEvent(action, target, actor, via string, n int) {
	w.t.Helper()
	evs := w.events(action)
	if len(evs) != n || n > 0 && (evs[0].Target != target || evs[0].Actor != actor ||
		!strings.Contains(string(evs[0].Details), `"via":"`+via+`"`)) {
		w.t.Fatalf("%s events %+v, want %d, the latest on %s by %s via %s", action, evs, n, target, actor, via)
	}
}

// TestConsolePeople: an admin finds a person by name and by email, reads
// their page (identities, roles and where they come from, sessions, recent
// events), grants and revokes a role, ends their sessions and disables and
// enables them, each destructive action after a page saying what it does;
// every change is an audit event naming the admin, via the console (ADM-16).
func TestConsolePeople(t *testing.T) {
	w := newWorld(t)
	c, aliceID := w.signIn("alice@corp.example")
	bob, bobID := w.signIn("bob@uni.example")
	w.Audited("signin.succeeded") // flush the sign-ins' events

	if _, page := w.page(c, "/admin"); !strings.Contains(page, `href="/admin/people"`) {
		t.Fatal("the home does not link to People")
	}
	for _, q := range []string{"bo", "BOB@UNI", "ob"} {
		_, page := w.page(c, "/admin/people?"+url.Values{"q": {q}}.Encode())
		if !strings.Contains(page, `data-testid="person-`+bobID+`"`) || strings.Contains(page, `data-testid="person-`+aliceID+`"`) {
			t.Fatalf("search %q: bob not found alone:\n%s", q, page)
		}
	}
	if _, page := w.page(c, "/admin/people?q=nobody"); !strings.Contains(page, `data-testid="people-none"`) {
		t.Fatal("a search without match")
	}

	base := "/admin/people/" + bobID
	res, page := w.page(c, base)
	if res.StatusCode != 200 || !strings.Contains(page, `data-testid="person-identities"`) || !strings.Contains(page, "OIDC uni") ||
		!strings.Contains(page, "signin.succeeded") || strings.Contains(page, "s3cret-uni") {
		t.Fatalf("bob's page: %d\n%s", res.StatusCode, page)
	}
	if _, page := w.page(c, "/admin/people/"+aliceID); !strings.Contains(page, "role rules of corp") {
		t.Fatalf("alice's admin role does not say it comes from corp's role rules:\n%s", page)
	}

	// Grant, then revoke after confirming.
	res, _ = w.submit(c, page, base+"/roles", url.Values{"role": {"editor"}})
	if res.StatusCode != http.StatusSeeOther || !slices.Equal(w.grants(bobID), []string{"editor"}) {
		t.Fatalf("grant: %d %v", res.StatusCode, w.grants(bobID))
	}
	w.wantEvent("role.granted", bobID, aliceID, "console", 1)
	_, page = w.page(c, base)
	if !strings.Contains(page, `data-testid="person-role-editor"`) || !strings.Contains(page, "granted by Alice") {
		t.Fatalf("the granted role and its grantor are not shown:\n%s", page)
	}
	// Granting it again is refused on the page, and records nothing more.
	if res, again := w.submit(c, page, base+"/roles", url.Values{"role": {"editor"}}); res.StatusCode != http.StatusConflict ||
		!strings.Contains(again, "They have the role editor already.") {
		t.Fatalf("the role granted twice: %d\n%s", res.StatusCode, again)
	}
	w.wantEvent("role.granted", bobID, aliceID, "console", 1)
	_, page = w.page(c, base+"/roles/editor/revoke")
	if !strings.Contains(page, "loses the role editor") {
		t.Fatalf("the revocation's confirmation:\n%s", page)
	}
	if res, _ = w.submit(c, page, base+"/roles/editor/revoke", nil); res.StatusCode != http.StatusSeeOther || len(w.grants(bobID)) != 0 {
		t.Fatalf("revoke: %d %v", res.StatusCode, w.grants(bobID))
	}
	w.wantEvent("role.revoked", bobID, aliceID, "console", 1)

	// End all sessions.
	_, page = w.page(c, base+"/sign-out")
	if !strings.Contains(page, "Their 1 active session ends now") {
		t.Fatalf("the sign-out's confirmation does not say what ends:\n%s", page)
	}
	if res, _ = w.submit(c, page, base+"/sign-out", nil); res.StatusCode != http.StatusSeeOther || w.SessionsOf(bobID) != 0 {
		t.Fatalf("sign-out: %d, %d sessions left", res.StatusCode, w.SessionsOf(bobID))
	}
	w.wantEvent("user.signed_out", bobID, aliceID, "console", 1)
	if res, _ := w.page(bob, "/account"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob's browser after the sign-out: %d", res.StatusCode)
	}

	// Disable, then enable.
	_, page = w.page(c, base+"/disable")
	if !strings.Contains(page, "can no longer sign in") || !strings.Contains(page, "delegations they gave or received end") {
		t.Fatalf("the disable's confirmation does not say what happens:\n%s", page)
	}
	if res, _ = w.submit(c, page, base+"/disable", nil); res.StatusCode != http.StatusSeeOther || !w.user(bobID).Disabled {
		t.Fatalf("disable: %d", res.StatusCode)
	}
	w.wantEvent("user.disabled", bobID, aliceID, "console", 1)
	_, page = w.page(c, base)
	if !strings.Contains(page, `data-testid="person-enable"`) {
		t.Fatalf("a disabled person's page offers no enable:\n%s", page)
	}
	if res, _ = w.submit(c, page, base+"/enable", nil); res.StatusCode != http.StatusSeeOther || w.user(bobID).Disabled {
		t.Fatalf("enable: %d", res.StatusCode)
	}
	w.wantEvent("user.enabled", bobID, aliceID, "console", 1)
}

// TestConsolePeopleInvalidRole: a role that is not one word is refused with
// 422 on the person's page, listing the problem; nothing is granted or
// recorded.
func TestConsolePeopleInvalidRole(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	_, bobID := w.signIn("bob@uni.example")
	base := "/admin/people/" + bobID
	_, page := w.page(c, base)
	res, page := w.submit(c, page, base+"/roles", url.Values{"role": {"two words"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="person-problems"`) ||
		!strings.Contains(page, `value="two words"`) || !strings.Contains(page, "“two words” is not a role: a role is one word of printable characters.") {
		t.Fatalf("invalid role: %d\n%s", res.StatusCode, page)
	}
	if len(w.grants(bobID)) != 0 || len(w.events("role.granted")) != 0 {
		t.Fatal("an invalid role was granted")
	}
	if res, _ := w.page(c, "/admin/people/nobody"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("an unknown person: %d", res.StatusCode)
	}
}

// TestLastAdminCannotBeRemoved: the only admin by grant can neither lose the
// role nor be disabled, in the console (the refusal on their page, 409) or
// through the API (409 problem); nothing changes and nothing is recorded.
func TestLastAdminCannotBeRemoved(t *testing.T) {
	w := newWorld(t)
	c, aliceID := w.signIn("alice@corp.example")
	brokertest.Must(t, w.ops().GrantRole(t.Context(), opsActor, aliceID, store.RoleAdmin))
	base := "/admin/people/" + aliceID

	_, page := w.page(c, base+"/roles/admin/revoke")
	if !strings.Contains(page, "The last admin cannot lose the role") {
		t.Fatalf("the confirmation does not warn:\n%s", page)
	}
	res, page := w.submit(c, page, base+"/roles/admin/revoke", nil)
	if res.StatusCode != http.StatusConflict || !strings.Contains(page, `data-testid="person-problems"`) || !strings.Contains(page, "last admin") {
		t.Fatalf("console revoke of the last admin: %d\n%s", res.StatusCode, page)
	}
	_, page = w.page(c, base+"/disable")
	if res, page = w.submit(c, page, base+"/disable", nil); res.StatusCode != http.StatusConflict || !strings.Contains(page, "last admin") {
		t.Fatalf("console disable of the last admin: %d\n%s", res.StatusCode, page)
	}

	tok := w.token("robot", "")
	status, h, body := w.call("DELETE", "/api/admin/v1/users/"+aliceID+"/roles/admin", tok, nil)
	wantProblem(t, "API revoke of the last admin", status, h, body, http.StatusConflict)
	status, h, body = w.call("POST", "/api/admin/v1/users/"+aliceID+"/disable", tok, nil)
	wantProblem(t, "API disable of the last admin", status, h, body, http.StatusConflict)

	if !slices.Equal(w.grants(aliceID), []string{store.RoleAdmin}) || w.user(aliceID).Disabled {
		t.Fatalf("after the refusals: roles %v, disabled %v", w.grants(aliceID), w.user(aliceID).Disabled)
	}
	for _, action := range []string{"role.revoked", "user.disabled"} {
		if n := len(w.events(action)); n != 0 {
			t.Errorf("%d %s events", n, action)
		}
	}
	if w.SessionsOf(aliceID) != 1 {
		t.Fatal("the refused disable ended the admin's session")
	}
}

// TestAdminAPIPeople: a client given gatehouse:admin searches people (paged),
// reads one, ends their sessions, grants and revokes a role, disables and
// enables them; each change is an audit event naming the client, via the API
// (ADM-16); errors are problem details.
func TestAdminAPIPeople(t *testing.T) {
	w := newWorld(t)
	_, aliceID := w.signIn("alice@corp.example")
	_, bobID := w.signIn("bob@uni.example")
	tok := w.token("robot", "")
	const robot = "client:robot"

	status, _, body := w.call("GET", "/api/admin/v1/users?q=BOB", tok, nil)
	if users, _ := body["users"].([]any); status != 200 || len(users) != 1 || users[0].(map[string]any)["id"] != bobID || body["next"] != nil {
		t.Fatalf("search: %d %v", status, body)
	}
	// Paged: alice then bob, by email, one a page.
	var seen []string
	next := ""
	for range 3 {
		status, _, body = w.call("GET", "/api/admin/v1/users?"+url.Values{"limit": {"1"}, "after": {next}}.Encode(), tok, nil)
		users, _ := body["users"].([]any)
		if status != 200 || len(users) != 1 {
			t.Fatalf("page: %d %v", status, body)
		}
		seen = append(seen, users[0].(map[string]any)["id"].(string))
		if next, _ = body["next"].(string); next == "" {
			break
		}
	}
	if !slices.Equal(seen, []string{aliceID, bobID}) {
		t.Fatalf("pages %v, want alice then bob", seen)
	}
	status, h, body := w.call("GET", "/api/admin/v1/users?after=garbage", tok, nil)
	wantProblem(t, "bad cursor", status, h, body, http.StatusBadRequest)
	status, h, body = w.call("GET", "/api/admin/v1/users?limit=0", tok, nil)
	wantProblem(t, "bad limit", status, h, body, http.StatusUnprocessableEntity)
	status, h, body = w.call("GET", "/api/admin/v1/users?q="+strings.Repeat("a", 321), tok, nil)
	wantProblem(t, "a query too long", status, h, body, http.StatusUnprocessableEntity)

	status, _, body = w.call("GET", "/api/admin/v1/users/"+bobID, tok, nil)
	ids, _ := body["identities"].([]any)
	sessions, _ := body["sessions"].([]any)
	if status != 200 || body["email"] != "bob@uni.example" || len(ids) != 1 || len(sessions) != 1 {
		t.Fatalf("get: %d %v", status, body)
	}
	if raw, _ := json.Marshal(body); strings.Contains(string(raw), "s3cret-uni") || strings.Contains(string(raw), "token_hash") {
		t.Fatal("the person's JSON holds a secret")
	}
	status, h, body = w.call("GET", "/api/admin/v1/users/nobody", tok, nil)
	wantProblem(t, "unknown person", status, h, body, http.StatusNotFound)

	status, _, body = w.call("POST", "/api/admin/v1/users/"+bobID+"/sign-out", tok, nil)
	if status != 200 || body["sessions_ended"] != 1.0 || w.SessionsOf(bobID) != 0 {
		t.Fatalf("sign-out: %d %v", status, body)
	}
	w.wantEvent("user.signed_out", bobID, robot, "api", 1)

	role := "/api/admin/v1/users/" + bobID + "/roles/editor"
	for range 2 { // PUT is idempotent: the second changes nothing
		if status, _, body = w.call("PUT", role, tok, nil); status != http.StatusNoContent {
			t.Fatalf("grant: %d %v", status, body)
		}
	}
	w.wantEvent("role.granted", bobID, robot, "api", 1)
	status, h, body = w.call("PUT", "/api/admin/v1/users/"+bobID+"/roles/"+url.PathEscape("two words"), tok, nil)
	wantProblem(t, "invalid role", status, h, body, http.StatusUnprocessableEntity)
	if status, _, _ = w.call("DELETE", role, tok, nil); status != http.StatusNoContent || len(w.grants(bobID)) != 0 {
		t.Fatalf("revoke: %d %v", status, w.grants(bobID))
	}
	w.wantEvent("role.revoked", bobID, robot, "api", 1)
	status, h, body = w.call("DELETE", role, tok, nil)
	wantProblem(t, "revoke a role not granted", status, h, body, http.StatusNotFound)

	if status, _, body = w.call("POST", "/api/admin/v1/users/"+bobID+"/disable", tok, nil); status != 200 || body["user"].(map[string]any)["disabled"] != true {
		t.Fatalf("disable: %d %v", status, body)
	}
	w.wantEvent("user.disabled", bobID, robot, "api", 1)
	if status, _, body = w.call("POST", "/api/admin/v1/users/"+bobID+"/enable", tok, "{}"); status != 200 || w.user(bobID).Disabled {
		t.Fatalf("enable: %d %v", status, body)
	}
	w.wantEvent("user.enabled", bobID, robot, "api", 1)
	if logs := w.Logs.String(); strings.Contains(logs, tok) || strings.Contains(logs, w.secrets["robot"]) {
		t.Error("the logs hold the bearer token or the client secret")
	}
}

// TestADM03_PeopleMassAssignment: the people actions take no body; one with a
// field (is_admin, disabled, granted_by) is refused with 400 and changes
// nothing.
func TestADM03_PeopleMassAssignment(t *testing.T) {
	w := newWorld(t)
	_, bobID := w.signIn("bob@uni.example")
	tok := w.token("robot", "")
	for _, call := range []struct{ method, path, body string }{
		{"POST", "/api/admin/v1/users/" + bobID + "/disable", `{"disabled":false}`},
		{"POST", "/api/admin/v1/users/" + bobID + "/enable", `{"is_admin":true}`},
		{"POST", "/api/admin/v1/users/" + bobID + "/sign-out", `{"sessions":[]}`},
		{"PUT", "/api/admin/v1/users/" + bobID + "/roles/admin", `{"granted_by":"bootstrap"}`},
	} {
		status, h, body := w.call(call.method, call.path, tok, call.body)
		wantProblem(t, call.method+" "+call.path, status, h, body, http.StatusBadRequest)
	}
	if u := w.user(bobID); u.Disabled || len(w.grants(bobID)) != 0 || w.SessionsOf(bobID) != 1 {
		t.Fatalf("changed: disabled %v, roles %v, %d sessions", u.Disabled, w.grants(bobID), w.SessionsOf(bobID))
	}
	for _, action := range []string{"user.disabled", "user.enabled", "user.signed_out", "role.granted"} {
		if n := len(w.events(action)); n != 0 {
			t.Errorf("%d %s events", n, action)
		}
	}
}

// TestDisabledPersonsTokenInactiveAtIntrospection: right after an admin
// disables a person in the console, an access token issued to them before is
// inactive at introspection (RFC 7662 §2.2), and their refresh token is
// refused.
func TestDisabledPersonsTokenInactiveAtIntrospection(t *testing.T) {
	e := brokertest.NewAuthzEnv(t)
	e.AddOIDC("uni", "uni.example", true, map[string]any{"sub": "bob", "email": "bob@uni.example",
		"email_verified": true, "name": "Bob"})
	w := &world{SigninEnv: e.SigninEnv, t: t, secrets: e.Secrets}

	alice := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	cb := e.Code(alice, q)
	status, body := e.Redeem("web", cb.Get("code"), q.Verifier, brokertest.AppCB)
	at, _ := body["access_token"].(string)
	rt, _ := body["refresh_token"].(string)
	if status != 200 || at == "" || rt == "" {
		t.Fatalf("token: %d %v", status, body)
	}
	introspect := func() bool {
		req, _ := http.NewRequest(http.MethodPost, e.Abs("/oauth2/introspect"), strings.NewReader(url.Values{"token": {at}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", e.Secrets["web"])
		res, err := e.TS.Client().Do(req)
		brokertest.Must(t, err)
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return out["active"] == true
	}
	if !introspect() {
		t.Fatal("the token is inactive before the disable")
	}

	admin, bobID := w.signIn("bob@uni.example")
	brokertest.Must(t, w.ops().GrantRole(t.Context(), opsActor, bobID, store.RoleAdmin))
	aliceID := w.userID("alice@oidc.example")
	_, page := w.page(admin, "/admin/people/"+aliceID+"/disable")
	if res, _ := w.submit(admin, page, "/admin/people/"+aliceID+"/disable", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", res.StatusCode)
	}
	if introspect() {
		t.Fatal("the disabled person's access token is still active")
	}
	if status, _ := e.Refresh("web", rt); status == 200 {
		t.Fatal("the disabled person's refresh token still works")
	}
	w.wantEvent("user.disabled", aliceID, bobID, "console", 1)
}

// TestADM14_PersonNameIsEscaped: a name carrying HTML (from an IdP's claims)
// is shown escaped in the search results and on the person's page.
func TestADM14_PersonNameIsEscaped(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	_, bobID := w.signIn("bob@uni.example")
	const evil = `<img src=x onerror=alert(1)>Bob`
	u := w.user(bobID)
	u.Name = evil
	brokertest.Must(t, w.DB.Users().Update(t.Context(), u))
	for _, path := range []string{"/admin/people?q=bob", "/admin/people/" + bobID, "/admin/people/" + bobID + "/disable"} {
		res, page := w.page(c, path)
		if res.StatusCode != 200 || strings.Contains(page, "<img src=x") || !strings.Contains(page, "&lt;img src=x") {
			t.Errorf("%s: %d, the name is not escaped:\n%s", path, res.StatusCode, page)
		}
	}
}
