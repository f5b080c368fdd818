package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// oauthFixture is brokertest.OAuthFixture for the maintenance tests, which swap
// the server's store and so must stay inside package broker (which brokertest
// imports): web1, web2 (confidential, code + refresh), spa and native (public),
// svc (client_credentials), jwt1 (private_key_jwt), the APIs rs1 and rs2 and the
// clients rs1 and rs2 registered as their resource servers, with the user alice.
type oauthFixture struct {
	*testServer
	secrets map[string]string // client ID → secret
	jwtKey  *ecdsa.PrivateKey // jwt1's key
	issued  []string          // every token, code and secret the test saw (DATA-04)
}

const (
	rs1 = "https://api1.test"
	rs2 = "https://api2.test"
)

func newOAuthFixture(t testing.TB, settings map[string]string) *oauthFixture {
	t.Helper()
	ts := newTestServer(t, "https://gatehouse.test", settings, nil)
	fx := &oauthFixture{testServer: ts, secrets: map[string]string{}}
	ctx := context.Background()
	now := time.Now()
	must(t, ts.db.Users().Create(ctx, store.User{ID: "alice", Email: "alice@corp.example", EmailVerified: true, CreatedAt: now, UpdatedAt: now}))
	// Codes are issued under alice's browser session sess-1, signed in at corp:
	// the token endpoint refuses a code or token whose session or provider is gone.
	must(t, ts.db.Providers().Create(ctx, store.ProviderConfig{ID: "corp", Kind: "oidc", Name: "Corp", Enabled: true,
		Settings: []byte(`{"issuer":"https://idp.corp.example","client_id":"gatehouse"}`), CreatedAt: now, UpdatedAt: now}))
	must(t, ts.db.Sessions().Create(ctx, store.Session{ID: "sess-1", TokenHash: []byte("h1"), UserID: "alice", ProviderID: "corp",
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(t, ts.db.APIs().Create(ctx, store.API{ID: "rs1", Audience: rs1, Name: "API 1", Scopes: []store.Scope{
		{Name: "read"}, {Name: "write"}, {Name: "admin", Roles: []string{"admin"}}}, CreatedAt: now}))
	must(t, ts.db.APIs().Create(ctx, store.API{ID: "rs2", Audience: rs2, Name: "API 2", Scopes: []store.Scope{{Name: "read"}}, CreatedAt: now}))
	codeRefresh := []string{registry.GrantAuthorizationCode, registry.GrantRefreshToken}
	for _, c := range []store.Client{
		{ID: "web1", RedirectURIs: []string{"https://app1.test/cb"}, GrantTypes: codeRefresh, Scopes: []string{"openid", "read", "write"},
			DefaultAudience: rs1, TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: "web2", RedirectURIs: []string{"https://app2.test/cb"}, GrantTypes: codeRefresh, Scopes: []string{"openid", "read", "write"},
			DefaultAudience: rs1, TokenEndpointAuthMethod: registry.AuthSecretPost},
		{ID: "spa", Public: true, RedirectURIs: []string{"https://spa.test/cb"}, GrantTypes: codeRefresh, Scopes: []string{"openid", "read"},
			DefaultAudience: rs1, TokenEndpointAuthMethod: registry.AuthNone},
		{ID: "native", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: codeRefresh, Scopes: []string{"openid", "read"},
			DefaultAudience: rs1, TokenEndpointAuthMethod: registry.AuthNone},
		{ID: "svc", GrantTypes: []string{registry.GrantClientCredentials}, Scopes: []string{"read", "write"},
			DefaultAudience: rs1, TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: "rs1", GrantTypes: []string{registry.GrantClientCredentials}, Scopes: []string{"read"},
			DefaultAudience: rs1, ResourceServerFor: []string{rs1}, TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: "rs2", GrantTypes: []string{registry.GrantClientCredentials}, Scopes: []string{"read"},
			DefaultAudience: rs2, ResourceServerFor: []string{rs2}, TokenEndpointAuthMethod: registry.AuthSecretBasic},
	} {
		if !c.Public {
			secret, hash := registry.NewSecret()
			c.SecretHash = hash
			fx.secrets[c.ID] = secret
			fx.issued = append(fx.issued, secret)
		}
		c.CreatedAt, c.UpdatedAt = now, now
		must(t, registry.ValidateClient(c))
		must(t, ts.db.Clients().Create(ctx, c))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	fx.jwtKey = key
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	must(t, ts.db.Clients().Create(ctx, store.Client{ID: "jwt1", GrantTypes: []string{registry.GrantClientCredentials},
		Scopes: []string{"read"}, DefaultAudience: rs1, TokenEndpointAuthMethod: registry.AuthPrivateKeyJWT, JWKS: jwks,
		Audiences: []string{rs2}}))
	return fx
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// post sends a form to an OAuth endpoint; auth is "basic:<client>" (with its secret)
// or "" (the form carries whatever credentials the test wants).
func (fx *oauthFixture) post(path, auth string, v url.Values) *http.Response {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id, ok := strings.CutPrefix(auth, "basic:"); ok {
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(fx.secrets[id]))
	}
	return fx.do(r)
}

// oauthResult is a decoded OAuth JSON response.
type oauthResult struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (fx *oauthFixture) call(t *testing.T, path, auth string, v url.Values) oauthResult {
	t.Helper()
	res := fx.post(path, auth, v)
	raw := body(t, res)
	out := oauthResult{status: res.StatusCode, header: res.Header, raw: raw}
	if err := json.Unmarshal([]byte(raw), &out.body); err != nil {
		t.Fatalf("%s: response is not JSON: %q", path, raw)
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if s, ok := out.body[k].(string); ok {
			fx.issued = append(fx.issued, s)
		}
	}
	return out
}

func (o oauthResult) str(k string) string { s, _ := o.body[k].(string); return s }

// wantError asserts an RFC 6749 §5.2 error: status, code, JSON, no-store, no control
// characters in the description (AS-META-03), and no token in the body.
func (o oauthResult) wantError(t *testing.T, status int, code string) {
	t.Helper()
	if o.status != status || o.str("error") != code {
		t.Fatalf("got %d %q, want %d %s", o.status, o.raw, status, code)
	}
	if o.header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(o.header.Get("Content-Type"), "application/json") {
		t.Errorf("error headers: %v", o.header)
	}
	if strings.ContainsAny(o.str("error_description"), "\r\n\t") {
		t.Errorf("error_description has control characters")
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if _, ok := o.body[k]; ok {
			t.Errorf("error response carries %s", k)
		}
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(o.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("401 without WWW-Authenticate: Basic")
	}
}

// codeOpts shape a code the way the authorization step will store it.
type codeOpts struct {
	client, redirect string
	scopes           []string
	expiresIn        time.Duration
	challenge        string // default: S256 of the returned verifier
}

// newCode stores an authorization code and returns it with its PKCE verifier.
func (fx *oauthFixture) newCode(t testing.TB, o codeOpts) (code, verifier, grantID string) {
	t.Helper()
	code, hash := token.NewOpaque()
	verifier, _ = token.NewOpaque()
	sum := sha256.Sum256([]byte(verifier))
	if o.challenge == "" {
		o.challenge = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if o.scopes == nil {
		o.scopes = []string{"openid", "read"}
	}
	if o.expiresIn == 0 {
		o.expiresIn = time.Minute
	}
	now := time.Now()
	grantID = token.NewID()
	must(t, fx.db.Codes().Create(context.Background(), store.AuthCode{
		CodeHash: hash, GrantID: grantID, ClientID: o.client, UserID: "alice", SessionID: "sess-1",
		RedirectURI: o.redirect, Scopes: o.scopes, Audience: rs1, CodeChallenge: o.challenge, Nonce: "n-123",
		AuthTime: now.Add(-time.Minute), ACR: "urn:gatehouse:loa:1", AMR: []string{"pwd"},
		CreatedAt: now, ExpiresAt: now.Add(o.expiresIn),
	}))
	fx.issued = append(fx.issued, code, verifier)
	return code, verifier, grantID
}

// exchange redeems a code for web1 (basic auth) with the right redirect URI.
func (fx *oauthFixture) exchange(t *testing.T, auth, code, verifier, redirect string, extra url.Values) oauthResult {
	t.Helper()
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirect}}
	for k, vs := range extra {
		v[k] = vs
	}
	return fx.call(t, "/oauth2/token", auth, v)
}

// introspect asks as rs1 (the registered resource server of the API rs1).
func (fx *oauthFixture) introspect(t *testing.T, tok string) map[string]any {
	t.Helper()
	o := fx.call(t, "/oauth2/introspect", "basic:rs1", url.Values{"token": {tok}})
	if o.status != 200 {
		t.Fatalf("introspect: %d %s", o.status, o.raw)
	}
	return o.body
}

func (fx *oauthFixture) active(t *testing.T, tok string) bool {
	t.Helper()
	return fx.introspect(t, tok)["active"] == true
}

// introspectAs asks as client (basic auth), for refresh tokens.
func (fx *oauthFixture) activeFor(t *testing.T, client, tok string) bool {
	t.Helper()
	o := fx.call(t, "/oauth2/introspect", "basic:"+client, url.Values{"token": {tok}})
	return o.body["active"] == true
}

// auditCount flushes the batched audit log and counts events with action.
// rejections counts the oauth.rejected audit rows with reason (any reason if "").
// rows counts the rows of a table through a second connection to the file.
// assertion builds a private_key_jwt assertion for jwt1, with mutate applied.
// httpHandler defers to the fixture built once the server's URL (the issuer) is known.
