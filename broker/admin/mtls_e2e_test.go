package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/registry"
)

// TestAdminAPIClientCertificateAuth: the admin API registers RFC 8705 apps — a
// tls_client_auth app with its one certificate subject (§2.1.2), shown back, and
// no secret — and refuses a tls_client_auth app without a subject or with two
// (422, nothing stored).
func TestAdminAPIClientCertificateAuth(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	status, _, body := w.call("POST", "/api/admin/v1/clients", tok, map[string]any{"id": "device-fleet",
		"grant_types": []any{"client_credentials"}, "default_api": notesAudience, "scopes": []any{"notes.read"},
		"token_endpoint_auth_method": registry.AuthTLSClient, "tls_client_auth_subject_dn": "CN=fleet,O=Example"})
	if _, has := body["client_secret"]; status != http.StatusCreated || has || body["client_secret_set"] != false ||
		body["tls_client_auth_subject_dn"] != "CN=fleet,O=Example" {
		t.Fatalf("create: %d %v", status, body)
	}
	if c := w.client("device-fleet"); c.TLSClientAuthSubjectDN != "CN=fleet,O=Example" || len(c.SecretHash) != 0 {
		t.Fatalf("stored %+v", c)
	}
	for name, extra := range map[string]map[string]any{
		"no subject":   {},
		"two subjects": {"tls_client_auth_san_dns": "fleet.test", "tls_client_auth_san_ip": "192.0.2.1"},
		"bad DN":       {"tls_client_auth_subject_dn": "fleet"},
	} {
		in := map[string]any{"id": "bad-fleet", "grant_types": []any{"client_credentials"}, "default_api": notesAudience,
			"token_endpoint_auth_method": registry.AuthTLSClient}
		for k, v := range extra {
			in[k] = v
		}
		status, h, body := w.call("POST", "/api/admin/v1/clients", tok, in)
		wantProblem(t, name, status, h, body, http.StatusUnprocessableEntity)
	}
	if _, err := w.DB.Clients().Get(t.Context(), "bad-fleet"); err == nil {
		t.Fatal("an invalid app was stored")
	}
}

// TestConsoleAppCertificateSubject: the console's app form sets a
// tls_client_auth app's certificate subject (kind and value) and shows it back;
// an unknown kind is a problem on the form and nothing is stored.
func TestConsoleAppCertificateSubject(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	_, page := w.page(c, "/admin/apps/new")
	res, page := w.submit(c, page, "/admin/apps/new", url.Values{"id": {"kiosk"}, "grant_types": {"client_credentials"},
		"default_api": {notesAudience}, "token_endpoint_auth_method": {registry.AuthTLSClient},
		"cert_subject_kind": {"san_dns"}, "cert_subject": {"kiosk.ward.test"}})
	if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusOK {
		t.Fatalf("create: %d %s", res.StatusCode, page)
	}
	if app := w.client("kiosk"); app.TLSClientAuthSANDNS != "kiosk.ward.test" || len(app.SecretHash) != 0 {
		t.Fatalf("stored %+v", app)
	}
	_, page = w.page(c, "/admin/apps/kiosk")
	if testidValue(t, page, "app-cert-subject-kind") != "san_dns" || testidValue(t, page, "app-cert-subject") != "kiosk.ward.test" {
		t.Fatal("the edit form does not show the certificate subject")
	}
	_, page = w.page(c, "/admin/apps/new")
	res, page = w.submit(c, page, "/admin/apps/new", url.Values{"id": {"kiosk2"}, "grant_types": {"client_credentials"},
		"default_api": {notesAudience}, "token_endpoint_auth_method": {registry.AuthTLSClient},
		"cert_subject_kind": {"serial"}, "cert_subject": {"42"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Certificate subject kind must be") {
		t.Fatalf("unknown kind: %d", res.StatusCode)
	}
	if _, err := w.DB.Clients().Get(t.Context(), "kiosk2"); err == nil {
		t.Fatal("an invalid app was stored")
	}
}
