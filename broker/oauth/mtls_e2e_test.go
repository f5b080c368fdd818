package oauth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/broker/dpop/dpoptest"
	"github.com/gatehouse/gatehouse/broker/mtls"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// mtlsEnv is the OAuth fixture with RFC 8705 clients and a real mTLS listener
// (mtls.ServerTLSConfig, broker.Server.MTLSHandler) on httptest.
type mtlsEnv struct {
	*brokertest.OAuthFixture
	CA       *testsupport.CA    // GATEHOUSE_MTLS_CLIENT_CA_FILE
	Self     tls.Certificate    // self1's registered certificate
	URL      string             // the mTLS listener
	roots    *x509.CertPool     // trusts the listener's certificate
	dnCert   tls.Certificate    // mtls-dn's certificate
	sanCert  tls.Certificate    // mtls-dns's certificate
	spaCerts [2]tls.Certificate // two certificates a public client might hold
}

const trustedProxy = "192.0.2.10"

func newMTLSEnv(t *testing.T) *mtlsEnv {
	t.Helper()
	dir := t.TempDir()
	ca := testsupport.NewCA(t, "Gatehouse test client CA")
	caFile := filepath.Join(dir, "client-ca.pem")
	brokertest.Must(t, os.WriteFile(caFile, ca.PEM(), 0o644))
	serverCA := testsupport.NewCA(t, "Gatehouse test server CA")
	serverCert := serverCA.Server(t)
	certFile, keyFile := testsupport.WritePEM(t, dir, "server", serverCert)
	fx := brokertest.NewOAuthFixture(t, map[string]string{
		"GATEHOUSE_TLS_CERT_FILE": certFile, "GATEHOUSE_TLS_KEY_FILE": keyFile,
		"GATEHOUSE_MTLS_LISTEN_ADDR": "127.0.0.1:8443", "GATEHOUSE_MTLS_CLIENT_CA_FILE": caFile,
		"GATEHOUSE_TRUSTED_PROXIES": "192.0.2.0/24",
	})
	e := &mtlsEnv{OAuthFixture: fx, CA: ca, roots: serverCA.Pool(), Self: testsupport.SelfSigned(t, "self1"),
		dnCert:   ca.Client(t, x509.Certificate{Subject: pkix.Name{CommonName: "mtls-dn", Organization: []string{"Gatehouse Test"}}}),
		sanCert:  ca.Client(t, x509.Certificate{Subject: pkix.Name{CommonName: "anything"}, DNSNames: []string{"app.mtls.test"}}),
		spaCerts: [2]tls.Certificate{testsupport.SelfSigned(t, "spa instance 1"), testsupport.SelfSigned(t, "spa instance 2")}}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: e.Self.Leaf.PublicKey, KeyID: "self1", Use: "sig"}}})
	brokertest.Must(t, err)
	now := time.Now()
	for _, c := range []store.Client{
		{ID: "mtls-dn", TokenEndpointAuthMethod: registry.AuthTLSClient, TLSClientAuthSubjectDN: "CN=mtls-dn,O=Gatehouse Test"},
		{ID: "mtls-dns", TokenEndpointAuthMethod: registry.AuthTLSClient, TLSClientAuthSANDNS: "app.mtls.test"},
		{ID: "self1", TokenEndpointAuthMethod: registry.AuthSelfSignedTLSClient, JWKS: jwks,
			ExchangeTokenTypes: []string{registry.TokenTypeAccessToken}, ResourceServerFor: []string{brokertest.RS1}},
	} {
		c.GrantTypes, c.Scopes, c.DefaultAudience, c.CreatedAt, c.UpdatedAt = []string{registry.GrantClientCredentials},
			[]string{"read"}, brokertest.RS1, now, now
		if c.ExchangeTokenTypes != nil {
			c.GrantTypes = append(c.GrantTypes, registry.GrantTokenExchange)
		}
		brokertest.Must(t, registry.ValidateClient(c))
		brokertest.Must(t, fx.DB.Clients().Create(context.Background(), c))
	}
	srv := httptest.NewUnstartedServer(fx.MTLSHandler())
	srv.TLS = mtls.ServerTLSConfig(serverCert)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

// tlsCall posts a form to the mTLS listener over a new TLS connection presenting
// cert (none when nil).
func (e *mtlsEnv) tlsCall(t *testing.T, cert *tls.Certificate, path string, v url.Values) brokertest.Result {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(v.Encode()))
	brokertest.Must(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.tlsDo(t, cert, req)
}

func (e *mtlsEnv) tlsDo(t *testing.T, cert *tls.Certificate, req *http.Request) brokertest.Result {
	t.Helper()
	tc := &tls.Config{RootCAs: e.roots}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: tc}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Do(req)
	brokertest.Must(t, err)
	defer res.Body.Close()
	out := brokertest.Result{Status: res.StatusCode, Header: res.Header, Raw: brokertest.Body(t, res)}
	_ = json.Unmarshal([]byte(out.Raw), &out.Body)
	return out
}

// cnf is the x5t#S256 confirmation of an access token (read without verifying:
// the tests that need verification introspect).
func cnf(t *testing.T, at string) string {
	t.Helper()
	parts := strings.Split(at, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", at)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	brokertest.Must(t, err)
	var cl struct {
		Cnf map[string]string `json:"cnf"`
	}
	brokertest.Must(t, json.Unmarshal(b, &cl))
	return cl.Cnf["x5t#S256"]
}

var clientCredentials = url.Values{"grant_type": {"client_credentials"}}

func withClient(id string, v url.Values) url.Values {
	out := url.Values{"client_id": {id}}
	for k, vs := range v {
		out[k] = vs
	}
	return out
}

// TestMTLSClientAuthBindsToken: RFC 8705 §2.1 (tls_client_auth, by subject DN and by
// DNS SAN) and §2.2 (self_signed_tls_client_auth) over the mTLS listener; each
// access token carries cnf.x5t#S256 of the certificate (§3.1), and introspection
// returns it (§3.2).
func TestMTLSClientAuthBindsToken(t *testing.T) {
	e := newMTLSEnv(t)
	for _, tc := range []struct {
		client string
		cert   tls.Certificate
	}{{"mtls-dn", e.dnCert}, {"mtls-dns", e.sanCert}, {"self1", e.Self}} {
		t.Run(tc.client, func(t *testing.T) {
			o := e.tlsCall(t, &tc.cert, "/oauth2/token", withClient(tc.client, clientCredentials))
			if o.Status != 200 || o.Str("token_type") != "Bearer" {
				t.Fatalf("%d %s", o.Status, o.Raw)
			}
			at, want := o.Str("access_token"), mtls.Thumbprint(tc.cert.Leaf)
			if got := cnf(t, at); got != want {
				t.Fatalf("cnf.x5t#S256 = %q, want %q", got, want)
			}
			info := e.Introspect(t, at)
			if c, _ := info["cnf"].(map[string]any); info["active"] != true || c["x5t#S256"] != want {
				t.Fatalf("introspection: %v", info)
			}
		})
	}
	// A client authenticated by secret over the mTLS listener gets a token bound
	// to the certificate it presented too (§3).
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/oauth2/token", strings.NewReader(clientCredentials.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", url.QueryEscape(e.Secrets["svc"]))
	if o := e.tlsDo(t, &e.Self, req); o.Status != 200 || cnf(t, o.Str("access_token")) != mtls.Thumbprint(e.Self.Leaf) {
		t.Fatalf("secret client over mTLS: %d %s", o.Status, o.Raw)
	}
	// Without a certificate the same client gets a plain bearer token.
	if o := e.Call(t, "/oauth2/token", "basic:svc", clientCredentials); o.Status != 200 || cnf(t, o.Str("access_token")) != "" {
		t.Fatalf("bearer token: %d %s", o.Status, o.Raw)
	}
}

// TestMTLSClientAuthRefused: a certificate with another subject, from another CA,
// a self-signed one whose key is not registered, an expired one, or none at all is
// the same invalid_client (RFC 6749 §5.2), audited, and nothing is issued.
func TestMTLSClientAuthRefused(t *testing.T) {
	e := newMTLSEnv(t)
	other := testsupport.NewCA(t, "Someone else's CA")
	subject := x509.Certificate{Subject: pkix.Name{CommonName: "mtls-dn", Organization: []string{"Gatehouse Test"}}}
	expired := subject
	expired.NotBefore, expired.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	wrongDN := e.CA.Client(t, x509.Certificate{Subject: pkix.Name{CommonName: "mtls-dn", Organization: []string{"Gatehouse Test 2"}}})
	otherCA := other.Client(t, subject)
	old := e.CA.Client(t, expired)
	stranger := testsupport.SelfSigned(t, "self1")
	issued := e.AuditCount(t, "token.issued")
	for _, tc := range []struct {
		name, client string
		cert         *tls.Certificate
	}{
		{"wrong DN", "mtls-dn", &wrongDN},
		{"untrusted CA", "mtls-dn", &otherCA},
		{"expired", "mtls-dn", &old},
		{"self-signed to a tls_client_auth client", "mtls-dn", &e.Self},
		{"another client's certificate", "mtls-dns", &e.dnCert},
		{"no certificate", "mtls-dn", nil},
		{"self-signed not in the JWKS", "self1", &stranger},
		{"CA certificate to a self-signed client", "self1", &e.dnCert},
		{"no certificate, self-signed client", "self1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := e.tlsCall(t, tc.cert, "/oauth2/token", withClient(tc.client, clientCredentials))
			o.WantError(t, http.StatusUnauthorized, "invalid_client")
		})
	}
	if n := e.AuditCount(t, "token.issued"); n != issued {
		t.Errorf("%d tokens issued", n-issued)
	}
	if n := e.Rejections(t, "bad_certificate"); n != 9 {
		t.Errorf("%d bad_certificate refusals audited, want 9", n)
	}
}

// TestMTLSClientCertHeader: behind a TLS-terminating proxy the certificate comes in
// the RFC 9440 Client-Cert header, believed only from GATEHOUSE_TRUSTED_PROXIES; from
// anyone else it is ignored (the client then has no certificate) and nothing is
// issued.
func TestMTLSClientCertHeader(t *testing.T) {
	e := newMTLSEnv(t)
	header := ":" + base64.StdEncoding.EncodeToString(e.dnCert.Leaf.Raw) + ":"
	post := func(remote, hdr string) brokertest.Result {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(withClient("mtls-dn", clientCredentials).Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Client-Cert", hdr)
		r.RemoteAddr = remote
		res := e.Do(r)
		out := brokertest.Result{Status: res.StatusCode, Header: res.Header, Raw: brokertest.Body(t, res)}
		brokertest.Must(t, json.Unmarshal([]byte(out.Raw), &out.Body))
		return out
	}
	o := post(trustedProxy+":40000", header)
	if o.Status != 200 || cnf(t, o.Str("access_token")) != mtls.Thumbprint(e.dnCert.Leaf) {
		t.Fatalf("from the trusted proxy: %d %s", o.Status, o.Raw)
	}
	issued := e.AuditCount(t, "token.issued")
	post("198.51.100.7:40000", header).WantError(t, http.StatusUnauthorized, "invalid_client")
	post(trustedProxy+":40000", ":bm90IGEgY2VydGlmaWNhdGU=:").WantError(t, http.StatusUnauthorized, "invalid_client")
	if n := e.AuditCount(t, "token.issued"); n != issued {
		t.Errorf("%d tokens issued", n-issued)
	}
	// A header cannot stand in for, or override, the certificate of a direct TLS
	// connection either.
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/oauth2/token", strings.NewReader(withClient("mtls-dn", clientCredentials).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Client-Cert", header)
	e.tlsDo(t, &e.Self, req).WantError(t, http.StatusUnauthorized, "invalid_client")
}

// TestMTLSPublicClientRefreshBound: a public client over mTLS gets an access token
// and a refresh token bound to its certificate (RFC 8705 §4); refreshing with
// another certificate or none is invalid_grant and issues nothing, with the same
// certificate it works and stays bound.
func TestMTLSPublicClientRefreshBound(t *testing.T) {
	e := newMTLSEnv(t)
	code, verifier, _ := e.NewCode(t, brokertest.CodeOpts{Client: "spa", Redirect: "https://spa.test/cb"})
	mine, theirs := &e.spaCerts[0], &e.spaCerts[1]
	o := e.tlsCall(t, mine, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {"https://spa.test/cb"}})
	if o.Status != 200 || o.Str("refresh_token") == "" || cnf(t, o.Str("access_token")) != mtls.Thumbprint(mine.Leaf) {
		t.Fatalf("code exchange: %d %s", o.Status, o.Raw)
	}
	rt := o.Str("refresh_token")
	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {rt}}
	issued := e.AuditCount(t, "token.issued")
	e.tlsCall(t, theirs, "/oauth2/token", refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
	e.Call(t, "/oauth2/token", "", refresh).WantError(t, http.StatusBadRequest, "invalid_grant")
	if n := e.AuditCount(t, "token.issued"); n != issued {
		t.Errorf("%d tokens issued", n-issued)
	}
	if n := e.Rejections(t, "refresh_token_certificate"); n != 2 {
		t.Errorf("%d refusals audited, want 2", n)
	}
	o = e.tlsCall(t, mine, "/oauth2/token", refresh)
	if o.Status != 200 || cnf(t, o.Str("access_token")) != mtls.Thumbprint(mine.Leaf) {
		t.Fatalf("refresh with the bound certificate: %d %s", o.Status, o.Raw)
	}
	// The rotated refresh token is bound as its predecessor was.
	next := url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {o.Str("refresh_token")}}
	e.tlsCall(t, theirs, "/oauth2/token", next).WantError(t, http.StatusBadRequest, "invalid_grant")
	if info := e.Call(t, "/oauth2/introspect", "", url.Values{"client_id": {"spa"}}); info.Status == 200 {
		t.Fatalf("a public client introspected: %s", info.Raw)
	}
}

// TestMTLSUserInfoRefusesBoundTokenWithoutCertificate: Gatehouse's own protected
// resource checks the binding (RFC 8705 §3): the bound token without its
// certificate, or with another, is invalid_token (RFC 6750 §3.1).
func TestMTLSUserInfoRefusesBoundTokenWithoutCertificate(t *testing.T) {
	e := newMTLSEnv(t)
	code, verifier, _ := e.NewCode(t, brokertest.CodeOpts{Client: "spa", Redirect: "https://spa.test/cb"})
	mine := &e.spaCerts[0]
	o := e.tlsCall(t, mine, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {"https://spa.test/cb"}})
	if o.Status != 200 {
		t.Fatalf("code exchange: %d %s", o.Status, o.Raw)
	}
	at := o.Str("access_token")
	userinfo := func(cert *tls.Certificate) brokertest.Result {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/oauth2/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+at)
		return e.tlsDo(t, cert, req)
	}
	for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "another certificate": &e.spaCerts[1]} {
		r := userinfo(cert)
		if r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) || r.Body["sub"] != nil {
			t.Errorf("%s: %d %v %s", name, r.Status, r.Header.Get("WWW-Authenticate"), r.Raw)
		}
	}
	// Nor through the main listener, which never sees a certificate.
	req := httptest.NewRequest(http.MethodGet, "/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	if res := e.Do(req); res.StatusCode != 401 {
		t.Errorf("main listener: %d", res.StatusCode)
	}
	if r := userinfo(mine); r.Status != 200 || r.Body["sub"] != "alice" {
		t.Fatalf("with the bound certificate: %d %s", r.Status, r.Raw)
	}
}

// TestMTLSDiscovery: RFC 8705 §3.3 and §5 metadata, and the mTLS listener serves
// the OAuth endpoints only.
func TestMTLSDiscovery(t *testing.T) {
	e := newMTLSEnv(t)
	req := httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil)
	var doc struct {
		Bound   bool              `json:"tls_client_certificate_bound_access_tokens"`
		Methods []string          `json:"token_endpoint_auth_methods_supported"`
		Aliases map[string]string `json:"mtls_endpoint_aliases"`
	}
	brokertest.Must(t, json.Unmarshal([]byte(brokertest.Body(t, e.Do(req))), &doc))
	if !doc.Bound || !strings.Contains(strings.Join(doc.Methods, " "), "tls_client_auth self_signed_tls_client_auth") {
		t.Errorf("metadata: %+v", doc)
	}
	for k, path := range map[string]string{"token_endpoint": "/oauth2/token", "introspection_endpoint": "/oauth2/introspect",
		"revocation_endpoint": "/oauth2/revoke", "userinfo_endpoint": "/oauth2/userinfo",
		"device_authorization_endpoint": "/oauth2/device_authorization"} {
		if doc.Aliases[k] != "https://gatehouse.test:8443"+path {
			t.Errorf("alias %s = %q", k, doc.Aliases[k])
		}
	}
	get := func(path string) int {
		req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
		return e.tlsDo(t, &e.Self, req).Status
	}
	if s := get("/login"); s != 404 {
		t.Errorf("/login on the mTLS listener: %d", s)
	}
	if s := get("/.well-known/openid-configuration"); s != 200 {
		t.Errorf("discovery on the mTLS listener: %d", s)
	}
}

// TestMTLSTokenExchangeBound: a token exchanged (RFC 8693) by a client that
// authenticated with its certificate is bound to that certificate as well (RFC 8705
// §3): the token endpoint binds whatever grant it serves.
func TestMTLSTokenExchangeBound(t *testing.T) {
	e := newMTLSEnv(t)
	code, verifier, _ := e.NewCode(t, brokertest.CodeOpts{Client: "spa", Redirect: "https://spa.test/cb"})
	o := e.Call(t, "/oauth2/token", "", url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {"https://spa.test/cb"}})
	if o.Status != 200 || cnf(t, o.Str("access_token")) != "" {
		t.Fatalf("code exchange: %d %s", o.Status, o.Raw)
	}
	x := e.tlsCall(t, &e.Self, "/oauth2/token", url.Values{"grant_type": {registry.GrantTokenExchange}, "client_id": {"self1"},
		"subject_token": {o.Str("access_token")}, "subject_token_type": {registry.TokenTypeAccessToken}})
	if x.Status != 200 || cnf(t, x.Str("access_token")) != mtls.Thumbprint(e.Self.Leaf) {
		t.Fatalf("exchange: %d %s", x.Status, x.Raw)
	}
}

// TestMTLSAliasWithDPoP: a token request on the mTLS listener with a DPoP proof
// for the alias URL (RFC 9449 §4.3: htu is the URL the request was sent to, here
// discovery's mtls_endpoint_aliases.token_endpoint) gets a token bound both to
// the certificate (cnf x5t#S256, RFC 8705 §3) and to the key (cnf jkt); a proof
// for the main token endpoint URL is not one for this request.
func TestMTLSAliasWithDPoP(t *testing.T) {
	e := newMTLSEnv(t)
	var disc map[string]any
	brokertest.Must(t, json.Unmarshal([]byte(brokertest.Body(t, e.Do(httptest.NewRequest("GET", "/.well-known/openid-configuration", nil)))), &disc))
	aliases, _ := disc["mtls_endpoint_aliases"].(map[string]any)
	aliasToken, _ := aliases["token_endpoint"].(string)
	if aliasToken == "" || aliasToken == disc["token_endpoint"] {
		t.Fatalf("token endpoint alias %q", aliasToken)
	}
	k := dpoptest.NewKey(t)
	call := func(htu string) brokertest.Result {
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/oauth2/token", strings.NewReader(withClient("mtls-dn", clientCredentials).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", k.Proof(t, "POST", htu, time.Now()))
		return e.tlsDo(t, &e.dnCert, req)
	}
	o := call(aliasToken)
	if o.Status != 200 || o.Str("token_type") != "DPoP" {
		t.Fatalf("DPoP on the mTLS alias: %d %s", o.Status, o.Raw)
	}
	at := o.Str("access_token")
	if got := cnf(t, at); got != mtls.Thumbprint(e.dnCert.Leaf) {
		t.Errorf("cnf.x5t#S256 = %q", got)
	}
	if got := cnfJKT(t, at); got != k.JKT {
		t.Errorf("cnf.jkt = %q, want %q", got, k.JKT)
	}
	call(disc["token_endpoint"].(string)).WantError(t, 400, "invalid_dpop_proof")
}
