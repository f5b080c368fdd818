package admin_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/dpop/dpoptest"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestDPoPAdminAPIRequireSetting: the admin API sets and shows an app's
// dpop_bound_access_tokens (RFC 9449 §5.2); the change is audited.
func TestDPoPAdminAPIRequireSetting(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	status, _, body := w.call("POST", "/api/admin/v1/clients", tok, map[string]any{"id": "cli", "name": "CLI",
		"grant_types": []any{"client_credentials"}, "scopes": []any{"notes.read"}, "default_api": notesAudience,
		"dpop_bound_access_tokens": true})
	if status != http.StatusCreated || body["dpop_bound_access_tokens"] != true || !w.client("cli").DPoPBoundAccessTokens {
		t.Fatalf("create: %d %v", status, body)
	}
	status, _, body = w.call("PUT", "/api/admin/v1/clients/cli", tok, map[string]any{"name": "CLI",
		"grant_types": []any{"client_credentials"}, "scopes": []any{"notes.read"}, "default_api": notesAudience, "version": 1})
	if status != 200 || body["dpop_bound_access_tokens"] != false || w.client("cli").DPoPBoundAccessTokens {
		t.Fatalf("put without it: %d %v", status, body)
	}
	if evs := w.events("client.updated"); len(evs) != 1 || !strings.Contains(string(evs[0].Details), `"dpop_bound_access_tokens":{"new":false,"old":true}`) {
		t.Fatalf("client.updated %+v", evs)
	}
}

// TestDPoPAdminAPIBoundToken: the admin API accepts a DPoP-bound token only
// with the DPoP scheme and a proof by its key for the call (RFC 9449 §7.1);
// presented as Bearer it is refused with a DPoP challenge.
func TestDPoPAdminAPIBoundToken(t *testing.T) {
	w := newWorld(t)
	k := dpoptest.NewKey(t)
	req, _ := http.NewRequest(http.MethodPost, w.Abs("/oauth2/token"), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", k.Proof(t, "POST", w.Abs("/oauth2/token"), w.Clk.Now()))
	req.SetBasicAuth("robot", w.secrets["robot"])
	res, err := w.TS.Client().Do(req)
	brokertest.Must(t, err)
	var tr map[string]any
	json.NewDecoder(res.Body).Decode(&tr)
	res.Body.Close()
	at, _ := tr["access_token"].(string)
	if res.StatusCode != 200 || tr["token_type"] != "DPoP" {
		t.Fatalf("token: %d %v", res.StatusCode, tr)
	}
	call := func(scheme, proof string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, w.Abs("/api/admin/v1/apis"), nil)
		req.Header.Set("Authorization", scheme+" "+at)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		res, err := w.TS.Client().Do(req)
		brokertest.Must(t, err)
		res.Body.Close()
		return res
	}
	for _, tc := range []struct{ name, scheme, proof, code string }{
		{"as Bearer", "Bearer", "", "invalid_token"},
		{"no proof", "DPoP", "", "invalid_dpop_proof"},
		{"another key", "DPoP", dpoptest.NewKey(t).Proof(t, "GET", w.Abs("/api/admin/v1/apis"), w.Clk.Now(), dpoptest.WithAccessToken(at)), "invalid_dpop_proof"},
		{"another URL", "DPoP", k.Proof(t, "GET", w.Abs("/api/admin/v1/clients"), w.Clk.Now(), dpoptest.WithAccessToken(at)), "invalid_dpop_proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := call(tc.scheme, tc.proof)
			if wa := res.Header.Get("WWW-Authenticate"); res.StatusCode != 401 || !strings.HasPrefix(wa, "DPoP ") || !strings.Contains(wa, `error="`+tc.code+`"`) {
				t.Fatalf("%d %q", res.StatusCode, wa)
			}
		})
	}
	if res := call("DPoP", k.Proof(t, "GET", w.Abs("/api/admin/v1/apis"), w.Clk.Now(), dpoptest.WithAccessToken(at))); res.StatusCode != 200 {
		t.Fatalf("with its proof: %d", res.StatusCode)
	}
}

// TestDPoPConsoleRequireSetting: the console's app form sets and clears
// "Require DPoP" (dpop_bound_access_tokens, RFC 9449 §5.2).
func TestDPoPConsoleRequireSetting(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	_, page := w.page(c, "/admin/apps/new")
	res, _ := w.submit(c, page, "/admin/apps/new", url.Values{"id": {"spa"}, "name": {"SPA"}, "public": {"on"},
		"redirect_uris": {"https://spa.test/cb"}, "scopes": {"openid notes.read"}, "default_api": {notesAudience},
		"require_dpop": {"on"}})
	if res.StatusCode != http.StatusOK || !w.client("spa").DPoPBoundAccessTokens {
		t.Fatalf("create: %d %+v", res.StatusCode, w.client("spa"))
	}
	_, page = w.page(c, "/admin/apps/spa")
	if !strings.Contains(page, `name="require_dpop" value="on" checked`) {
		t.Fatal("the edit form does not show Require DPoP checked")
	}
	if res, _ = w.submit(c, page, "/admin/apps/spa", url.Values{"require_dpop": nil}); res.StatusCode != http.StatusSeeOther ||
		w.client("spa").DPoPBoundAccessTokens {
		t.Fatalf("clear: %d %+v", res.StatusCode, w.client("spa"))
	}
}
