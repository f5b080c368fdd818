package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// client returns the stored client id.
func (w *world) client(id string) store.Client {
	w.t.Helper()
	c, err := w.DB.Clients().Get(context.Background(), id)
	brokertest.Must(w.t, err)
	return c
}

// tokenStatus asks for a client_credentials token as client with secret and
// returns the status and the token ("" if none).
func (w *world) tokenStatus(client, secret string) (int, string) {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.Abs("/oauth2/token"), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	res, err := w.TS.Client().Do(req)
	brokertest.Must(w.t, err)
	defer res.Body.Close()
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	tok, _ := body["access_token"].(string)
	return res.StatusCode, tok
}

// noSecret fails if any of secrets is in what (a page, a JSON body, the logs).
func noSecret(t *testing.T, where string, what any, secrets ...string) {
	t.Helper()
	text, ok := what.(string)
	if !ok {
		b, _ := json.Marshal(what)
		text = string(b)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("ADM-12: %s holds a client secret", where)
		}
	}
	if strings.Contains(text, "secret_hash") {
		t.Errorf("ADM-12: %s names the secret hash", where)
	}
}

// TestAdminAPIClients: a client given gatehouse:admin creates an app (its
// secret in that answer only), lists, reads, replaces it from its version (a
// stale version is 409, DATA-11; invalid input is 422 with every problem and
// stores nothing), rotates its secret (the new one shown once) and deletes it;
// each change is an audit event naming the client via the API (ADM-16), and no
// later answer nor the logs hold a secret (ADM-12).
func TestAdminAPIClients(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")

	status, h, body := w.call("POST", "/api/admin/v1/clients", tok, map[string]any{"id": "portal", "name": "Portal",
		"grant_types": []any{"authorization_code", "refresh_token"}, "redirect_uris": []any{"https://portal.test/cb"},
		"post_logout_redirect_uris": []any{"https://portal.test/bye"}, "scopes": []any{"openid", "notes.read"},
		"default_api": notesAudience, "access_token_ttl": "5m", "first_party": true})
	secret, _ := body["client_secret"].(string)
	if status != http.StatusCreated || secret == "" || body["client_secret_set"] != true || body["version"] != 1.0 ||
		body["token_endpoint_auth_method"] != registry.AuthSecretBasic || h.Get("Location") != "/api/admin/v1/clients/portal" {
		t.Fatalf("create: %d %v %v", status, h, body)
	}
	if c := w.client("portal"); !registry.SecretMatches(c.SecretHash, secret) || !c.FirstParty || c.AccessTokenTTL.String() != "5m0s" ||
		c.PostLogoutRedirectURIs[0] != "https://portal.test/bye" || c.Version != 1 {
		t.Fatalf("stored %+v", c)
	}

	status, _, body = w.call("GET", "/api/admin/v1/clients", tok, nil)
	if list, _ := body["clients"].([]any); status != 200 || len(list) != 3 {
		t.Fatalf("list: %d %v", status, body)
	}
	noSecret(t, "the list", body, secret, w.secrets["robot"], w.secrets["svc"])
	status, _, body = w.call("GET", "/api/admin/v1/clients/portal", tok, nil)
	if _, has := body["client_secret"]; status != 200 || body["name"] != "Portal" || body["client_secret_set"] != true || has {
		t.Fatalf("get: %d %v", status, body)
	}
	noSecret(t, "the app", body, secret)

	// Replace from version 1; a second replacement from version 1 is stale.
	put := map[string]any{"name": "Portal v2", "grant_types": []any{"authorization_code"},
		"redirect_uris": []any{"https://portal.test/cb2"}, "scopes": []any{"openid"}, "version": 1}
	if status, _, body = w.call("PUT", "/api/admin/v1/clients/portal", tok, put); status != 200 || body["version"] != 2.0 ||
		body["client_secret_set"] != true {
		t.Fatalf("put: %d %v", status, body)
	}
	noSecret(t, "the put's answer", body, secret)
	put["name"] = "Lost update"
	status, h, body = w.call("PUT", "/api/admin/v1/clients/portal", tok, put)
	wantProblem(t, "stale put", status, h, body, http.StatusConflict)
	if c := w.client("portal"); c.Name != "Portal v2" || c.Version != 2 || !registry.SecretMatches(c.SecretHash, secret) {
		t.Fatalf("after a stale put: %+v", c)
	}

	// Invalid input: every problem listed, nothing stored.
	status, h, body = w.call("POST", "/api/admin/v1/clients", tok, map[string]any{"id": "bad",
		"grant_types": []any{"password", "authorization_code"}, "logo_uri": "http://logo.test/x.png", "access_token_ttl": "soon"})
	wantProblem(t, "invalid", status, h, body, http.StatusUnprocessableEntity)
	if errs, _ := body["errors"].([]any); len(errs) < 1 {
		t.Fatalf("errors %v", body["errors"])
	}
	status, h, body = w.call("POST", "/api/admin/v1/clients", tok, map[string]any{"id": "bad",
		"grant_types": []any{"password", "authorization_code"}, "logo_uri": "http://logo.test/x.png"})
	wantProblem(t, "invalid", status, h, body, http.StatusUnprocessableEntity)
	if errs, _ := body["errors"].([]any); len(errs) < 3 {
		t.Fatalf("errors %v, want each problem", body["errors"])
	}
	status, h, body = w.call("PUT", "/api/admin/v1/clients/portal", tok, map[string]any{"grant_types": []any{"password"}, "version": 2})
	wantProblem(t, "invalid put", status, h, body, http.StatusUnprocessableEntity)
	if _, err := w.DB.Clients().Get(t.Context(), "bad"); err == nil {
		t.Fatal("an invalid app was stored")
	}
	if c := w.client("portal"); c.Version != 2 {
		t.Fatalf("an invalid put changed the app: %+v", c)
	}
	status, h, body = w.call("GET", "/api/admin/v1/clients/nope", tok, nil)
	wantProblem(t, "unknown", status, h, body, http.StatusNotFound)

	// Rotate: the new secret in this answer only.
	status, _, body = w.call("POST", "/api/admin/v1/clients/portal/rotate-secret", tok, nil)
	rotated, _ := body["client_secret"].(string)
	if status != 200 || rotated == "" || rotated == secret || !registry.SecretMatches(w.client("portal").SecretHash, rotated) {
		t.Fatalf("rotate: %d %v", status, body)
	}
	_, _, body = w.call("GET", "/api/admin/v1/clients/portal", tok, nil)
	noSecret(t, "the app after a rotation", body, secret, rotated)

	if status, _, _ = w.call("DELETE", "/api/admin/v1/clients/portal", tok, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	if _, err := w.DB.Clients().Get(t.Context(), "portal"); err == nil {
		t.Fatal("still stored")
	}
	for _, action := range []string{"client.created", "client.updated", "client.secret_rotated", "client.deleted"} {
		evs := w.events(action)
		if len(evs) != 1 || evs[0].Target != "portal" || evs[0].Actor != "client:robot" || !strings.Contains(string(evs[0].Details), `"via":"api"`) {
			t.Errorf("%s events %+v, want one on portal by client:robot via the API", action, evs)
		}
		noSecret(t, action+"'s details", string(evs[0].Details), secret, rotated)
	}
	if evs := w.events("client.updated"); !strings.Contains(string(evs[0].Details), `"name":{"new":"Portal v2","old":"Portal"}`) {
		t.Errorf("client.updated details %s, want the name's change", evs[0].Details)
	}
	noSecret(t, "the logs", w.Logs.String(), secret, rotated, w.secrets["robot"])
}

// TestAdminAPIClientRotateOldSecretStopsAtOnce: after a rotation the old
// secret gets no token, even right after the app used it (the client cache
// of this replica is dropped); the new one does.
func TestAdminAPIClientRotateOldSecretStopsAtOnce(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	old := w.secrets["svc"]
	if status, _ := w.tokenStatus("svc", old); status != 200 {
		t.Fatalf("before: %d", status)
	}
	status, _, body := w.call("POST", "/api/admin/v1/clients/svc/rotate-secret", tok, nil)
	rotated, _ := body["client_secret"].(string)
	if status != 200 || rotated == "" {
		t.Fatalf("rotate: %d %v", status, body)
	}
	if status, issued := w.tokenStatus("svc", old); status != http.StatusUnauthorized || issued != "" {
		t.Fatalf("the old secret after the rotation: %d, token %t", status, issued != "")
	}
	if status, _ := w.tokenStatus("svc", rotated); status != 200 {
		t.Fatalf("the new secret: %d", status)
	}
	// A public app has no secret to rotate.
	status, _, body = w.call("POST", "/api/admin/v1/clients", tok, map[string]any{"id": "spa", "public": true,
		"grant_types": []any{"authorization_code"}, "redirect_uris": []any{"https://spa.test/cb"}})
	if _, has := body["client_secret"]; status != http.StatusCreated || has || body["token_endpoint_auth_method"] != "none" {
		t.Fatalf("public create: %d %v", status, body)
	}
	status, h, body := w.call("POST", "/api/admin/v1/clients/spa/rotate-secret", tok, nil)
	wantProblem(t, "rotate a public app", status, h, body, http.StatusUnprocessableEntity)
	if n := len(w.events("client.secret_rotated")); n != 1 {
		t.Fatalf("%d client.secret_rotated events", n)
	}
}

// TestAdminAPIClientDeleteRevokesItsTokens: deleting an app revokes the
// access tokens issued to it at once (a "client:" revocation entry): the
// deleted app's own admin token is refused on its next call; the consents
// people gave it are deleted (an app created again under its ID starts with
// none), and other apps' are kept.
func TestAdminAPIClientDeleteRevokesItsTokens(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	status, _, body := w.call("POST", "/api/admin/v1/clients", tok, map[string]any{"id": "temp",
		"grant_types": []any{"client_credentials"}, "scopes": []any{admin.Scope}, "default_api": w.Srv().Admin().Audience()})
	secret, _ := body["client_secret"].(string)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, body)
	}
	status, temp := w.tokenStatus("temp", secret)
	if status != 200 {
		t.Fatalf("token: %d", status)
	}
	if status, _, _ = w.call("GET", "/api/admin/v1/clients", temp, nil); status != 200 {
		t.Fatalf("the app's token before: %d", status)
	}
	for _, c := range []string{"temp", "svc"} {
		brokertest.Must(t, w.DB.Consents().Put(t.Context(), store.Consent{UserID: "someone", ClientID: c, Scopes: []string{"openid"},
			CreatedAt: w.Clk.Now(), UpdatedAt: w.Clk.Now()}))
	}
	if status, _, _ = w.call("DELETE", "/api/admin/v1/clients/temp", tok, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	if _, err := w.DB.Consents().Get(t.Context(), "someone", "temp"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the deleted app's consent: %v", err)
	}
	if _, err := w.DB.Consents().Get(t.Context(), "someone", "svc"); err != nil {
		t.Fatalf("another app's consent: %v", err)
	}
	if evs := w.events("client.deleted"); len(evs) != 1 || !strings.Contains(string(evs[0].Details), `"consents_deleted":1`) {
		t.Fatalf("client.deleted events %+v", evs)
	}
	status, h, body := w.call("GET", "/api/admin/v1/clients", temp, nil)
	wantProblem(t, "the deleted app's token", status, h, body, http.StatusUnauthorized)
	if status, _ := w.tokenStatus("temp", secret); status != http.StatusUnauthorized {
		t.Fatalf("a token for the deleted app: %d", status)
	}
	if status, _, _ = w.call("GET", "/api/admin/v1/clients", tok, nil); status != 200 {
		t.Fatalf("another app's token after the delete: %d", status)
	}
}

// TestADM03_ClientMassAssignment: an app create or update carrying
// secret_hash, client_secret, client_secret_set or any field the API does not
// document is refused with 400, and nothing is stored or changed.
func TestADM03_ClientMassAssignment(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	before := w.client("svc")
	for _, field := range []string{"secret_hash", "client_secret", "client_secret_set", "is_admin", "created_at", "SecretHash"} {
		t.Run(field, func(t *testing.T) {
			for _, call := range []struct{ method, path string }{{"PUT", "/api/admin/v1/clients/svc"}, {"POST", "/api/admin/v1/clients"}} {
				body := map[string]any{"id": "svc", "name": "Changed", "grant_types": []any{"client_credentials"},
					field: "c2VjcmV0"}
				if call.method == "POST" {
					body["id"] = "new1"
				} else {
					body["version"] = before.Version
				}
				status, h, problem := w.call(call.method, call.path, tok, body)
				wantProblem(t, call.method, status, h, problem, http.StatusBadRequest)
			}
		})
	}
	after := w.client("svc")
	if after.Name != before.Name || after.Version != before.Version || !bytes.Equal(after.SecretHash, before.SecretHash) {
		t.Fatalf("changed: %+v", after)
	}
	if _, err := w.DB.Clients().Get(t.Context(), "new1"); err == nil {
		t.Fatal("stored new1")
	}
	if n := len(w.events("client.updated")) + len(w.events("client.created")); n != 0 {
		t.Fatalf("%d client events", n)
	}
	// The old secret still works: nothing replaced it.
	if status, _ := w.tokenStatus("svc", w.secrets["svc"]); status != 200 {
		t.Fatalf("svc's secret after the refusals: %d", status)
	}
}
