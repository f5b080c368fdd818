package admin_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestAdminAPIClientDeviceGrant: the admin API registers a public app for
// devices without a browser (RFC 8628): the device_code grant with refresh
// tokens and no redirect URI; the OpenAPI document's Client and ClientInput
// list every grant type the registry accepts; the app can start a device flow.
func TestAdminAPIClientDeviceGrant(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	doc := loadDocument(t, w)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range []string{"Client", "ClientInput"} {
		items := schemas[name].(map[string]any)["properties"].(map[string]any)["grant_types"].(map[string]any)["items"].(map[string]any)
		var enum []string
		for _, v := range items["enum"].([]any) {
			enum = append(enum, v.(string))
		}
		for _, g := range registry.GrantTypes {
			if !slices.Contains(enum, g) {
				t.Errorf("%s.grant_types does not list %s", name, g)
			}
		}
	}
	status, _, body := w.call("POST", "/api/admin/v1/clients", tok, map[string]any{"id": "ward-cli", "name": "Ward CLI",
		"public": true, "grant_types": []any{registry.GrantDeviceCode, "refresh_token"}, "scopes": []any{"openid"}})
	if status != http.StatusCreated || body["token_endpoint_auth_method"] != registry.AuthNone {
		t.Fatalf("create: %d %v", status, body)
	}
	res, err := w.TS.Client().PostForm(w.Abs("/oauth2/device_authorization"), url.Values{"client_id": {"ward-cli"}, "scope": {"openid"}})
	brokertest.Must(t, err)
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != 200 || out["user_code"] == nil {
		t.Fatalf("device authorization: %d %v", res.StatusCode, out)
	}
}
