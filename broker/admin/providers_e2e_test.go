package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

const partnerSecret = "partner-s3cret-never-shown"

// partnerIssuer starts an OIDC issuer (not yet a provider) where dave signs in.
func (w *world) partnerIssuer() *providertest.OIDCIssuer {
	w.t.Helper()
	iss := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse", ClientSecret: partnerSecret,
		Now: w.Clk.Now, AdvertiseIssParameter: true, Claims: map[string]any{"sub": "dave", "email": "dave@partner.example",
			"email_verified": true, "name": "Dave"}})
	w.t.Cleanup(iss.Close)
	return iss
}

func (w *world) provider(id string) store.ProviderConfig {
	w.t.Helper()
	p, err := w.DB.Providers().Get(context.Background(), id)
	brokertest.Must(w.t, err)
	return p
}

// storedSecret opens the provider's sealed client secret.
func (w *world) storedSecret(id string) string {
	w.t.Helper()
	s, err := upstream.OpenSecrets(w.Srv().Upstreams().Env().Keyring, w.provider(id))
	brokertest.Must(w.t, err)
	return s.ClientSecret
}

// wantAudited asserts the newest event of action is on target by actor, via via.
func (w *world) wantAudited(action, target, actor, via string) {
	w.t.Helper()
	evs := w.events(action)
	if len(evs) == 0 || evs[0].Target != target || evs[0].Actor != actor || !strings.Contains(string(evs[0].Details), `"via":"`+via+`"`) {
		w.t.Errorf("%s events %+v, want the newest on %s by %s via %s", action, evs, target, actor, via)
	}
}

func asJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestAdminAPIProviders: a client given gatehouse:admin previews an issuer's
// discovery, adds an OIDC provider, reads, lists, replaces (an empty secret
// keeps the stored one), disables, enables and deletes it; each change is an
// audit event naming the client, via the API (ADM-16); the secret is never in
// a response or the logs (ADM-12).
func TestAdminAPIProviders(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	iss := w.partnerIssuer()

	status, _, body := w.call("POST", "/api/admin/v1/providers/discover", tok, map[string]any{"issuer": iss.URL()})
	if status != 200 || body["issuer"] != iss.URL() || body["pkce_s256"] != true || body["token_endpoint"] == "" || body["jwks_uri"] == "" {
		t.Fatalf("discover: %d %v", status, body)
	}
	if n := len(w.events("provider.added")); n != 0 {
		t.Fatalf("the preview stored something: %d provider.added", n)
	}

	in := map[string]any{"id": "partner", "kind": "oidc", "name": "Partner", "domains": []any{"partner.example"},
		"client_secret": partnerSecret, "oidc": map[string]any{"issuer": iss.URL(), "client_id": "gatehouse",
			"role_rules": []any{map[string]any{"claim": "groups", "value": "ops", "role": "operator"}}}}
	status, h, body := w.call("POST", "/api/admin/v1/providers", tok, in)
	if status != http.StatusCreated || body["version"] != 1.0 || body["client_secret_set"] != true || h.Get("Location") != "/api/admin/v1/providers/partner" {
		t.Fatalf("create: %d %v %v", status, h, body)
	}
	if w.storedSecret("partner") != partnerSecret {
		t.Fatal("the secret was not stored")
	}
	w.wantAudited("provider.added", "partner", "client:robot", "api")

	// Usable at once: dave signs in through it, no restart.
	c := brokertest.NewClient(w.SigninEnv)
	if res, page := w.SignIn(c, "dave@partner.example"); res.StatusCode != 200 {
		t.Fatalf("sign-in through the new provider: %d %s", res.StatusCode, page)
	}
	brokertest.Must(t, w.Audits[0].Flush(t.Context())) // signin.succeeded is recorded in the background
	status, _, body = w.call("GET", "/api/admin/v1/providers/partner", tok, nil)
	st, _ := body["status"].(map[string]any)
	if status != 200 || st["linked_people"] != 1.0 || st["last_signin_at"] == nil {
		t.Fatalf("get: %d %v", status, body)
	}
	status, _, list := w.call("GET", "/api/admin/v1/providers", tok, nil)
	if ps, _ := list["providers"].([]any); status != 200 || len(ps) != 3 {
		t.Fatalf("list: %d %v", status, list)
	}

	// Replace from version 1 without a secret: the stored one is kept.
	delete(in, "client_secret")
	in["version"], in["name"] = 1, "Partner Inc"
	if status, _, body = w.call("PUT", "/api/admin/v1/providers/partner", tok, in); status != 200 || body["version"] != 2.0 || body["name"] != "Partner Inc" {
		t.Fatalf("put: %d %v", status, body)
	}
	if w.storedSecret("partner") != partnerSecret {
		t.Fatal("an empty secret replaced the stored one")
	}
	w.wantAudited("provider.updated", "partner", "client:robot", "api")
	// DATA-11: another replacement from version 1 is stale.
	in["name"] = "Lost update"
	status, h, body = w.call("PUT", "/api/admin/v1/providers/partner", tok, in)
	wantProblem(t, "stale put", status, h, body, http.StatusConflict)
	if p := w.provider("partner"); p.Name != "Partner Inc" || p.Version != 2 {
		t.Fatalf("a stale put was stored: %+v", p)
	}

	// Invalid input: every problem listed, nothing stored.
	status, h, body = w.call("POST", "/api/admin/v1/providers", tok, map[string]any{"id": "Bad ID", "kind": "oidc",
		"oidc": map[string]any{"issuer": iss.URL(), "client_id": "x"}})
	wantProblem(t, "invalid", status, h, body, http.StatusUnprocessableEntity)
	if errs, _ := body["errors"].([]any); len(errs) < 2 {
		t.Fatalf("errors %v, want each problem", body["errors"])
	}
	status, h, body = w.call("POST", "/api/admin/v1/providers", tok, map[string]any{"id": "uni", "kind": "oidc", "name": "Again",
		"oidc": map[string]any{"issuer": "https://again.example", "client_id": "x"}})
	wantProblem(t, "an ID taken", status, h, body, http.StatusConflict)

	status, _, body = w.call("POST", "/api/admin/v1/providers/partner/disable", tok, nil)
	if status != 200 || body["enabled"] != false || w.SessionsOf(w.userID("dave@partner.example")) != 0 {
		t.Fatalf("disable: %d %v", status, body)
	}
	w.wantAudited("provider.disabled", "partner", "client:robot", "api")
	status, h, body = w.call("POST", "/api/admin/v1/providers/partner/enable", tok, map[string]any{"version": 1})
	wantProblem(t, "a stale enable", status, h, body, http.StatusConflict)
	if status, _, body = w.call("POST", "/api/admin/v1/providers/partner/enable", tok, nil); status != 200 || body["enabled"] != true {
		t.Fatalf("enable: %d %v", status, body)
	}
	w.wantAudited("provider.enabled", "partner", "client:robot", "api")
	if status, _, _ = w.call("DELETE", "/api/admin/v1/providers/partner", tok, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	w.wantAudited("provider.removed", "partner", "client:robot", "api")
	if _, err := w.DB.Providers().Get(t.Context(), "partner"); err == nil {
		t.Fatal("still stored")
	}
	// ADM-12: the secret is in no response (all of the above were decoded:
	// checked on each here), nor in the logs.
	for _, resp := range []map[string]any{body, list} {
		if strings.Contains(asJSON(resp), partnerSecret) {
			t.Fatal("a response holds the client secret")
		}
	}
	if logs := w.Logs.String(); strings.Contains(logs, partnerSecret) || strings.Contains(logs, "PRIVATE KEY") {
		t.Error("the logs hold the client secret or a private key")
	}
}

// TestADM03_ProviderMassAssignment: a provider body with a field the API does
// not document — at the top or in the settings, such as the SP certificate
// Gatehouse manages — is refused with 400, and nothing changes.
func TestADM03_ProviderMassAssignment(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	before := w.provider("uni")
	issuer := w.OIDC.URL()
	for _, tc := range []struct {
		name string
		set  func(m map[string]any)
	}{
		{"allowed_for_token_exchange", func(m map[string]any) { m["allowed_for_token_exchange"] = true }},
		{"is_admin", func(m map[string]any) { m["is_admin"] = true }},
		{"client_secret_hash", func(m map[string]any) { m["client_secret_hash"] = "x" }},
		{"secrets_enc", func(m map[string]any) { m["secrets_enc"] = "x" }},
		{"oidc.created_at", func(m map[string]any) { m["oidc"].(map[string]any)["created_at"] = "2020-01-01T00:00:00Z" }},
		{"saml.sp_certificate_pem", func(m map[string]any) {
			m["kind"], m["saml"] = "saml", map[string]any{"metadata_xml": "<x/>", "sp_certificate_pem": "x"}
			delete(m, "oidc")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, call := range []struct{ method, path string }{{"PUT", "/api/admin/v1/providers/uni"}, {"POST", "/api/admin/v1/providers"}} {
				body := map[string]any{"kind": "oidc", "name": "Changed", "oidc": map[string]any{"issuer": issuer, "client_id": "gatehouse"}}
				if call.method == "PUT" {
					body["version"] = before.Version
				} else {
					body["id"] = "new1"
				}
				tc.set(body)
				status, h, problem := w.call(call.method, call.path, tok, body)
				wantProblem(t, call.method, status, h, problem, http.StatusBadRequest)
			}
		})
	}
	if after := w.provider("uni"); after.Name != before.Name || after.Version != before.Version {
		t.Fatalf("changed: %+v", after)
	}
	if ps, _ := w.DB.Providers().List(t.Context()); len(ps) != 2 {
		t.Fatalf("providers %d, want 2", len(ps))
	}
	for _, action := range []string{"provider.added", "provider.updated"} {
		if n := len(w.events(action)); n != 0 {
			t.Fatalf("%d %s events", n, action)
		}
	}
}

// canary is an HTTP server on 127.0.0.2, a loopback address the world's
// GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS (127.0.0.1, where the test IdPs are)
// does not list; it counts every request it gets.
func canary(t *testing.T) (port string, hits *atomic.Int64) {
	t.Helper()
	hits = &atomic.Int64{}
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		// Linux routes all of 127.0.0.0/8 to loopback; CI must run this test.
		if os.Getenv("CI") == "true" {
			t.Fatalf("no second loopback address in CI: %v", err)
		}
		t.Skipf("no second loopback address: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{}`))
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(l.Addr().String())
	return port, hits
}

// TestADM06_ADM07_ProviderURLsRefusedWithoutFetch: an issuer or metadata URL
// with a scheme other than http(s), or on a loopback, unspecified or
// IPv4-mapped loopback address the allowed networks do not list, is refused
// with 422 by the discovery preview, by adding a provider through the API and
// by the console, and the canary on that address records no request.
func TestADM06_ADM07_ProviderURLsRefusedWithoutFetch(t *testing.T) {
	w := newWorldWith(t, brokertest.Options{Settings: map[string]string{"GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS": "127.0.0.1"}})
	port, hits := canary(t)
	tok := w.token("robot", "")
	c, _ := w.signIn("alice@corp.example")
	urls := []string{
		"file:///etc/passwd", "gopher://127.0.0.2:" + port + "/", "ftp://127.0.0.2:" + port + "/", "data:text/plain,x",
		"jar:http://127.0.0.2:" + port + "/x!/", "http://127.0.0.2:" + port, "https://127.0.0.2:" + port,
		"http://[::ffff:127.0.0.2]:" + port, "http://0.0.0.0:" + port, "http://[::]:" + port,
	}
	for _, u := range urls {
		status, h, body := w.call("POST", "/api/admin/v1/providers/discover", tok, map[string]any{"issuer": u})
		wantProblem(t, "discover "+u, status, h, body, http.StatusUnprocessableEntity)
		status, h, body = w.call("POST", "/api/admin/v1/providers", tok, map[string]any{"id": "evil", "kind": "oidc", "name": "Evil",
			"oidc": map[string]any{"issuer": u, "client_id": "x"}})
		wantProblem(t, "create "+u, status, h, body, http.StatusUnprocessableEntity)
		status, h, body = w.call("POST", "/api/admin/v1/providers", tok, map[string]any{"id": "evil", "kind": "saml", "name": "Evil",
			"saml": map[string]any{"metadata_url": u}})
		wantProblem(t, "create SAML "+u, status, h, body, http.StatusUnprocessableEntity)
		_, page := w.page(c, "/admin/providers/new")
		if res, page := w.submit(c, page, "/admin/providers/new/oidc", url.Values{"issuer": {u}}); res.StatusCode != http.StatusUnprocessableEntity ||
			!strings.Contains(page, `data-testid="provider-problems"`) {
			t.Errorf("console, issuer %s: %d", u, res.StatusCode)
		}
		if res, _ := w.submit(c, page, "/admin/providers/new/saml", url.Values{"metadata_url": {u}}); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("console, metadata URL %s: %d", u, res.StatusCode)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the canary was reached %d times", n)
	}
	if _, err := w.DB.Providers().Get(t.Context(), "evil"); err == nil {
		t.Fatal("a refused provider was stored")
	}
}

// TestADM10_DiscoveryNamingLoopbackEndpoints: an issuer whose discovery
// document names its token endpoint, JWKS or userinfo on an address the
// allowed networks do not list is refused (422) at the preview, and those
// endpoints are not fetched.
func TestADM10_DiscoveryNamingLoopbackEndpoints(t *testing.T) {
	w := newWorldWith(t, brokertest.Options{Settings: map[string]string{"GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS": "127.0.0.1"}})
	port, hits := canary(t)
	tok := w.token("robot", "")
	evil := "http://127.0.0.2:" + port
	for _, field := range []string{"token_endpoint", "jwks_uri", "userinfo_endpoint"} {
		t.Run(field, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				doc := map[string]any{"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize",
					"token_endpoint": srv.URL + "/token", "jwks_uri": srv.URL + "/jwks", "userinfo_endpoint": srv.URL + "/userinfo"}
				doc[field] = evil + "/" + field
				json.NewEncoder(rw).Encode(doc)
			}))
			defer srv.Close()
			status, h, body := w.call("POST", "/api/admin/v1/providers/discover", tok, map[string]any{"issuer": srv.URL})
			wantProblem(t, field, status, h, body, http.StatusUnprocessableEntity)
			if !strings.Contains(asJSON(body["errors"]), field) {
				t.Errorf("errors %v do not name %s", body["errors"], field)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the canary was reached %d times", n)
	}
}

// TestConsoleProvidersOIDC: an admin adds an OIDC provider in two steps —
// the issuer's discovery shown for confirmation, then its settings — and a
// person signs in through it at once (no restart); the list shows the
// sign-in and the person linked; the secret is never shown back, and an edit
// with the secret field empty keeps it (ADM-12); disabling and deleting are
// confirmed with what they end; each change is audited as the admin's via the
// console (ADM-16).
func TestConsoleProvidersOIDC(t *testing.T) {
	w := newWorld(t)
	c, aliceID := w.signIn("alice@corp.example")
	iss := w.partnerIssuer()
	if _, page := w.page(c, "/admin"); !strings.Contains(page, `href="/admin/providers"`) {
		t.Fatal("the home does not link the providers")
	}

	_, page := w.page(c, "/admin/providers/new")
	res, page := w.submit(c, page, "/admin/providers/new/oidc", url.Values{"issuer": {iss.URL()}})
	if res.StatusCode != 200 || !strings.Contains(page, `data-testid="provider-discovery"`) ||
		!strings.Contains(page, iss.URL()+"/token") || !strings.Contains(page, `data-testid="provider-pkce">supported`) {
		t.Fatalf("discovery step: %d %s", res.StatusCode, page)
	}
	if n := len(w.events("provider.added")); n != 0 {
		t.Fatal("the discovery step stored the provider")
	}
	res, _ = w.submit(c, page, "/admin/providers/new/oidc", url.Values{"id": {"partner"}, "name": {"Partner"},
		"client_id": {"gatehouse"}, "client_secret": {partnerSecret}, "domains": {"partner.example"},
		"role_rules": {"groups | ops | operator"}, "trust_email_linking": {"on"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/admin/providers/partner?done=created" {
		t.Fatalf("create: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	p := w.provider("partner")
	s, _ := upstream.DecodeOIDC(p.Settings)
	if s.Issuer != iss.URL() || s.ClientID != "gatehouse" || len(s.RoleRules) != 1 || s.RoleRules[0].Role != "operator" ||
		!p.TrustEmailLinking || w.storedSecret("partner") != partnerSecret {
		t.Fatalf("stored %+v %+v", p, s)
	}
	w.wantAudited("provider.added", "partner", aliceID, "console")

	// A person signs in through it at once.
	dave := brokertest.NewClient(w.SigninEnv)
	if res, page := w.SignIn(dave, "dave@partner.example"); res.StatusCode != 200 {
		t.Fatalf("sign-in through the new provider: %d %s", res.StatusCode, page)
	}
	brokertest.Must(t, w.Audits[0].Flush(t.Context())) // signin.succeeded is recorded in the background
	_, page = w.page(c, "/admin/providers")
	row := page[strings.Index(page, `data-testid="provider-partner"`):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, `data-testid="provider-linked">1<`) || !strings.Contains(row, "just now") {
		t.Fatalf("list row: %s", row)
	}

	// ADM-12: the edit page holds no secret; saving it with the field empty keeps it.
	_, page = w.page(c, "/admin/providers/partner")
	if strings.Contains(page, partnerSecret) || !strings.Contains(page, `data-testid="provider-secret-set"`) {
		t.Fatal("the edit page shows the secret, or not that one is set")
	}
	if res, _ = w.submit(c, page, "/admin/providers/partner", url.Values{"name": {"Partner Inc"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", res.StatusCode)
	}
	if p := w.provider("partner"); p.Name != "Partner Inc" || w.storedSecret("partner") != partnerSecret {
		t.Fatalf("after the edit: %+v", p)
	}
	w.wantAudited("provider.updated", "partner", aliceID, "console")

	// Disable, after a confirmation saying what it ends.
	_, page = w.page(c, "/admin/providers/partner/disable")
	if !strings.Contains(page, "1 session signed in with it ends") || !strings.Contains(page, "The 1 person linked") {
		t.Fatalf("disable confirmation: %s", page)
	}
	if res, _ = w.submit(c, page, "/admin/providers/partner/disable", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", res.StatusCode)
	}
	if w.provider("partner").Enabled || w.SessionsOf(w.userID("dave@partner.example")) != 0 {
		t.Fatal("not disabled, or dave's session lives on")
	}
	w.wantAudited("provider.disabled", "partner", aliceID, "console")
	_, page = w.page(c, "/admin/providers/partner")
	if res, _ = w.submit(c, page, "/admin/providers/partner/enable", nil); res.StatusCode != http.StatusSeeOther || !w.provider("partner").Enabled {
		t.Fatalf("enable: %d", res.StatusCode)
	}
	w.wantAudited("provider.enabled", "partner", aliceID, "console")

	_, page = w.page(c, "/admin/providers/partner/delete")
	if !strings.Contains(page, "The 1 identity linked at it is removed") {
		t.Fatalf("delete confirmation: %s", page)
	}
	if res, _ = w.submit(c, page, "/admin/providers/partner/delete", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	if _, err := w.DB.Providers().Get(t.Context(), "partner"); err == nil {
		t.Fatal("still stored")
	}
	w.wantAudited("provider.removed", "partner", aliceID, "console")
	if logs := w.Logs.String(); strings.Contains(logs, partnerSecret) {
		t.Error("the logs hold the client secret")
	}
}

// TestConsoleProvidersSAML: an admin adds a SAML provider from its metadata
// URL: the entity ID, endpoints and certificate are shown first; the
// provider's page then shows what to give the IdP, each in a read-only field
// with a Copy button, and no private key (ADM-12); a person signs in through
// it at once.
func TestConsoleProvidersSAML(t *testing.T) {
	w := newWorld(t)
	c, aliceID := w.signIn("alice@corp.example")
	k, cert := brokertest.SAMLKeys()
	idp := providertest.NewSAMLIdP(w.Clk.Now, k, cert, brokertest.Carol())
	t.Cleanup(idp.Close)
	md := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.Write(idp.Metadata()) }))
	t.Cleanup(md.Close)

	_, page := w.page(c, "/admin/providers/new")
	res, page := w.submit(c, page, "/admin/providers/new/saml", url.Values{"metadata_url": {md.URL}})
	if res.StatusCode != 200 || !strings.Contains(page, `data-testid="provider-entity-id">`+idp.IdP.MetadataURL.String()+`<`) ||
		!strings.Contains(page, idp.IdP.SSOURL.String()) || !strings.Contains(page, "valid until") {
		t.Fatalf("metadata step: %d %s", res.StatusCode, page)
	}
	res, _ = w.submit(c, page, "/admin/providers/new/saml", url.Values{"id": {"college"}, "name": {"College"},
		"domains": {"saml.example"}, "allow_idp_initiated": {"on"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", res.StatusCode)
	}
	s, _ := upstream.DecodeSAML(w.provider("college").Settings)
	if s.MetadataURL != md.URL || !s.AllowIDPInitiated || s.MetadataFetchedAt.IsZero() {
		t.Fatalf("stored %+v", s)
	}
	w.wantAudited("provider.added", "college", aliceID, "console")

	_, page = w.page(c, "/admin/providers/college")
	for id, want := range map[string]string{"sp-acs": w.Abs("/saml/college/acs"), "sp-entity-id": w.Abs("/saml/college/metadata"),
		"sp-metadata": w.Abs("/saml/college/metadata")} {
		if !strings.Contains(page, `readonly value="`+want+`" data-testid="`+id+`"`) {
			t.Errorf("%s: no read-only field with %s", id, want)
		}
		if !strings.Contains(page, `data-copy="`+id+`"><span class="copy-value" aria-hidden="true">`+want+`</span>`) {
			t.Errorf("%s: no Copy button", id)
		}
	}
	if !strings.Contains(page, "BEGIN CERTIFICATE") || strings.Contains(page, "PRIVATE KEY") {
		t.Fatal("the SP certificate is missing, or a private key is shown")
	}

	// The IdP learns the SP from its metadata, and carol signs in at once.
	res = w.Get(brokertest.NewClient(w.SigninEnv), "/saml/college/metadata")
	spmd := brokertest.Body(t, res)
	brokertest.Must(t, idp.AddSP([]byte(spmd)))
	carol := brokertest.NewClient(w.SigninEnv)
	if res, page := w.SignIn(carol, brokertest.Carol().UserEmail); res.StatusCode != 200 {
		t.Fatalf("sign-in through the new SAML provider: %d %s", res.StatusCode, page)
	}
	if n := w.Identities(); n < 2 {
		t.Fatalf("%d identities", n)
	}
	// ADM-12: nor in the API's answer, nor in the logs.
	_, _, body := w.call("GET", "/api/admin/v1/providers/college", w.token("robot", ""), nil)
	if js := asJSON(body); !strings.Contains(js, "BEGIN CERTIFICATE") || strings.Contains(js, "PRIVATE KEY") {
		t.Fatalf("API answer: %s", js)
	}
	if logs := w.Logs.String(); strings.Contains(logs, "PRIVATE KEY") || strings.Contains(logs, "SAMLResponse=") {
		t.Error("the logs hold a private key or a SAML response")
	}
}

// TestDATA11_ConsoleProviderStaleEdit: two admins open the same provider; the
// second save is refused (409) and shows what changed, stored beside unsaved;
// the first edit stays.
func TestDATA11_ConsoleProviderStaleEdit(t *testing.T) {
	w := newWorld(t)
	one, _ := w.signIn("alice@corp.example")
	two, _ := w.signIn("alice@corp.example")
	_, page1 := w.page(one, "/admin/providers/uni")
	_, page2 := w.page(two, "/admin/providers/uni")
	if res, _ := w.submit(one, page1, "/admin/providers/uni", url.Values{"name": {"First"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first save: %d", res.StatusCode)
	}
	res, page := w.submit(two, page2, "/admin/providers/uni", url.Values{"name": {"Second"}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(page, `data-testid="provider-conflict"`) ||
		!strings.Contains(page, "<td>Name</td><td class=\"mono\">First</td><td class=\"mono\">Second</td>") || !strings.Contains(page, `value="First"`) {
		t.Fatalf("stale save: %d %s", res.StatusCode, page)
	}
	if p := w.provider("uni"); p.Name != "First" {
		t.Fatalf("stored %q", p.Name)
	}
	if n := len(w.events("provider.updated")); n != 1 {
		t.Fatalf("%d provider.updated events", n)
	}
}

// TestADM15_MetadataDoctypeOrOversizeRefused: IdP metadata with a DOCTYPE
// (uploaded in the console, or given to the API) or larger than 1 MiB (from a
// URL) is refused with 422, and no provider is stored.
func TestADM15_MetadataDoctypeOrOversizeRefused(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	c, _ := w.signIn("alice@corp.example")
	k, cert := brokertest.SAMLKeys()
	idp := providertest.NewSAMLIdP(w.Clk.Now, k, cert, brokertest.Carol())
	t.Cleanup(idp.Close)
	doctype := `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>` +
		strings.TrimPrefix(string(idp.Metadata()), `<?xml version="1.0" encoding="UTF-8"?>`)
	big := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Write([]byte(strings.Repeat(" ", 1<<20+10)))
	}))
	t.Cleanup(big.Close)

	status, h, body := w.call("POST", "/api/admin/v1/providers", tok, map[string]any{"id": "evil", "kind": "saml", "name": "Evil",
		"saml": map[string]any{"metadata_xml": doctype}})
	wantProblem(t, "API, DOCTYPE", status, h, body, http.StatusUnprocessableEntity)
	status, h, body = w.call("POST", "/api/admin/v1/providers", tok, map[string]any{"id": "evil", "kind": "saml", "name": "Evil",
		"saml": map[string]any{"metadata_url": big.URL}})
	wantProblem(t, "API, oversized", status, h, body, http.StatusUnprocessableEntity)

	_, page := w.page(c, "/admin/providers/new")
	upload := func(xml string) (*http.Response, string) {
		t.Helper()
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("csrf_token", formFields(t, page, "/admin/providers/new/saml").Get("csrf_token"))
		fw, _ := mw.CreateFormFile("metadata_file", "idp.xml")
		fw.Write([]byte(xml))
		mw.Close()
		req, _ := http.NewRequest("POST", w.Abs("/admin/providers/new/saml"), &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Origin", w.TS.URL)
		res, err := c.Do(req)
		brokertest.Must(t, err)
		return res, brokertest.Body(t, res)
	}
	// The upload itself works: the same metadata without the DOCTYPE is shown.
	if res, page := upload(string(idp.Metadata())); res.StatusCode != 200 || !strings.Contains(page, `data-testid="provider-entity-id"`) {
		t.Fatalf("console upload: %d %s", res.StatusCode, page)
	}
	if res, page := upload(doctype); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "document type declarations are not allowed") {
		t.Fatalf("console upload with a DOCTYPE: %d %s", res.StatusCode, page)
	}
	if res, page := w.submit(c, page, "/admin/providers/new/saml", url.Values{"metadata_url": {big.URL}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("console, oversized metadata: %d %s", res.StatusCode, page)
	}
	if _, err := w.DB.Providers().Get(t.Context(), "evil"); err == nil {
		t.Fatal("a refused provider was stored")
	}
}

// TestAdminProviderCertificateExpiry: a SAML provider's status gives the
// soonest IdP certificate expiry, with a warning from 30 days before it.
func TestAdminProviderCertificateExpiry(t *testing.T) {
	w := newWorld(t)
	w.AddSAML("college", "saml.example", true, brokertest.Carol())
	_, cert := brokertest.SAMLKeys()
	status := func() map[string]any {
		t.Helper()
		code, _, body := w.call("GET", "/api/admin/v1/providers/college", w.token("robot", ""), nil)
		st, _ := body["status"].(map[string]any)
		if code != 200 || st == nil {
			t.Fatalf("get: %d %v", code, body)
		}
		return st
	}
	if st := status(); st["cert_expires_at"] != cert.NotAfter.UTC().Format(time.RFC3339) || st["cert_warning"] != nil {
		t.Fatalf("status %v, want the expiry %s without a warning", st, cert.NotAfter)
	}
	w.Clk.Add(cert.NotAfter.Sub(w.Clk.Now()) - 29*24*time.Hour)
	if st := status(); st["cert_warning"] != true {
		t.Fatalf("29 days before the expiry: status %v, want a warning", st)
	}
}
