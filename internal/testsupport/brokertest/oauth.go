package brokertest

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

	"github.com/gatehouse/gatehouse/broker/oauth"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// OAuthFixture is the SECURITY.md §4 setup: web1, web2 (confidential, code +
// refresh), spa and native (public), svc (client_credentials), jwt1 (private_key_jwt),
// the APIs RS1 and RS2 and the clients RS1 and RS2 registered as their resource
// servers, with the user alice.
type OAuthFixture struct {
	*TestServer
	Secrets map[string]string // client ID → secret
	JWTKey  *ecdsa.PrivateKey // jwt1's key
	Issued  []string          // every token, code and secret the test saw (DATA-04)
}

const (
	RS1 = "https://api1.test"
	RS2 = "https://api2.test"
)

func NewOAuthFixture(t testing.TB, settings map[string]string) *OAuthFixture {
	t.Helper()
	ts := NewTestServer(t, "https://gatehouse.test", settings, nil)
	fx := &OAuthFixture{TestServer: ts, Secrets: map[string]string{}}
	ctx := context.Background()
	now := time.Now()
	Must(t, ts.DB.Users().Create(ctx, store.User{ID: "alice", Email: "alice@corp.example", EmailVerified: true, CreatedAt: now, UpdatedAt: now}))
	// Codes are issued under alice's browser session sess-1, signed in at corp:
	// the token endpoint refuses a code or token whose session or provider is gone.
	Must(t, ts.DB.Providers().Create(ctx, store.ProviderConfig{ID: "corp", Kind: "oidc", Name: "Corp", Enabled: true,
		Settings: []byte(`{"issuer":"https://idp.corp.example","client_id":"gatehouse"}`), CreatedAt: now, UpdatedAt: now}))
	Must(t, ts.DB.Sessions().Create(ctx, store.Session{ID: "sess-1", TokenHash: []byte("h1"), UserID: "alice", ProviderID: "corp",
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}))
	Must(t, ts.DB.APIs().Create(ctx, store.API{ID: "rs1", Audience: RS1, Name: "API 1", Scopes: []store.Scope{
		{Name: "read"}, {Name: "write"}, {Name: "admin", Roles: []string{"admin"}}}, CreatedAt: now}))
	Must(t, ts.DB.APIs().Create(ctx, store.API{ID: "rs2", Audience: RS2, Name: "API 2", Scopes: []store.Scope{{Name: "read"}}, CreatedAt: now}))
	codeRefresh := []string{registry.GrantAuthorizationCode, registry.GrantRefreshToken}
	for _, c := range []store.Client{
		{ID: "web1", RedirectURIs: []string{"https://app1.test/cb"}, GrantTypes: codeRefresh, Scopes: []string{"openid", "read", "write"},
			DefaultAudience: RS1, TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: "web2", RedirectURIs: []string{"https://app2.test/cb"}, GrantTypes: codeRefresh, Scopes: []string{"openid", "read", "write"},
			DefaultAudience: RS1, TokenEndpointAuthMethod: registry.AuthSecretPost},
		{ID: "spa", Public: true, RedirectURIs: []string{"https://spa.test/cb"}, GrantTypes: codeRefresh, Scopes: []string{"openid", "read"},
			DefaultAudience: RS1, TokenEndpointAuthMethod: registry.AuthNone},
		{ID: "native", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: codeRefresh, Scopes: []string{"openid", "read"},
			DefaultAudience: RS1, TokenEndpointAuthMethod: registry.AuthNone},
		{ID: "svc", GrantTypes: []string{registry.GrantClientCredentials}, Scopes: []string{"read", "write"},
			DefaultAudience: RS1, TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: "rs1", GrantTypes: []string{registry.GrantClientCredentials}, Scopes: []string{"read"},
			DefaultAudience: RS1, ResourceServerFor: []string{RS1}, TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: "rs2", GrantTypes: []string{registry.GrantClientCredentials}, Scopes: []string{"read"},
			DefaultAudience: RS2, ResourceServerFor: []string{RS2}, TokenEndpointAuthMethod: registry.AuthSecretBasic},
	} {
		if !c.Public {
			secret, hash := registry.NewSecret()
			c.SecretHash = hash
			fx.Secrets[c.ID] = secret
			fx.Issued = append(fx.Issued, secret)
		}
		c.CreatedAt, c.UpdatedAt = now, now
		Must(t, registry.ValidateClient(c))
		Must(t, ts.DB.Clients().Create(ctx, c))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Must(t, err)
	fx.JWTKey = key
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	Must(t, ts.DB.Clients().Create(ctx, store.Client{ID: "jwt1", GrantTypes: []string{registry.GrantClientCredentials},
		Scopes: []string{"read"}, DefaultAudience: RS1, TokenEndpointAuthMethod: registry.AuthPrivateKeyJWT, JWKS: jwks,
		Audiences: []string{RS2}}))
	return fx
}

func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Post sends a form to an OAuth endpoint; auth is "basic:<client>" (with its secret)
// or "" (the form carries whatever credentials the test wants).
func (fx *OAuthFixture) Post(path, auth string, v url.Values) *http.Response {
	return fx.PostWith(path, auth, v, nil)
}

// PostWith is Post with extra request headers (a DPoP proof, RFC 9449 §4.1).
func (fx *OAuthFixture) PostWith(path, auth string, v url.Values, h http.Header) *http.Response {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	for k, vs := range h {
		r.Header[k] = vs
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id, ok := strings.CutPrefix(auth, "basic:"); ok {
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(fx.Secrets[id]))
	}
	return fx.Do(r)
}

// Result is a decoded OAuth JSON response.
type Result struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (fx *OAuthFixture) Call(t *testing.T, path, auth string, v url.Values) Result {
	t.Helper()
	return fx.CallWith(t, path, auth, v, nil)
}

// CallWith is Call with extra request headers.
func (fx *OAuthFixture) CallWith(t *testing.T, path, auth string, v url.Values, h http.Header) Result {
	t.Helper()
	res := fx.PostWith(path, auth, v, h)
	raw := Body(t, res)
	out := Result{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if err := json.Unmarshal([]byte(raw), &out.Body); err != nil {
		t.Fatalf("%s: response is not JSON: %q", path, raw)
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if s, ok := out.Body[k].(string); ok {
			fx.Issued = append(fx.Issued, s)
		}
	}
	return out
}

func (o Result) Str(k string) string { s, _ := o.Body[k].(string); return s }

// WantError asserts an RFC 6749 §5.2 error: status, code, JSON, no-store, no control
// characters in the description (AS-META-03), and no token in the Body.
func (o Result) WantError(t *testing.T, status int, code string) {
	t.Helper()
	if o.Status != status || o.Str("error") != code {
		t.Fatalf("got %d %q, want %d %s", o.Status, o.Raw, status, code)
	}
	if o.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(o.Header.Get("Content-Type"), "application/json") {
		t.Errorf("error headers: %v", o.Header)
	}
	if strings.ContainsAny(o.Str("error_description"), "\r\n\t") {
		t.Errorf("error_description has control characters")
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if _, ok := o.Body[k]; ok {
			t.Errorf("error response carries %s", k)
		}
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(o.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("401 without WWW-Authenticate: Basic")
	}
}

// CodeOpts shape a code the way the authorization step will store it.
type CodeOpts struct {
	Client, Redirect string
	Scopes           []string
	ExpiresIn        time.Duration
	Challenge        string // default: S256 of the returned verifier
	DPoPJKT          string // the authorization request's dpop_jkt (RFC 9449 §10)
}

// NewCode stores an authorization code and returns it with its PKCE verifier.
func (fx *OAuthFixture) NewCode(t testing.TB, o CodeOpts) (code, verifier, grantID string) {
	t.Helper()
	code, hash := token.NewOpaque()
	verifier, _ = token.NewOpaque()
	sum := sha256.Sum256([]byte(verifier))
	if o.Challenge == "" {
		o.Challenge = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if o.Scopes == nil {
		o.Scopes = []string{"openid", "read"}
	}
	if o.ExpiresIn == 0 {
		o.ExpiresIn = time.Minute
	}
	now := time.Now()
	grantID = token.NewID()
	Must(t, fx.DB.Codes().Create(context.Background(), store.AuthCode{
		CodeHash: hash, GrantID: grantID, ClientID: o.Client, UserID: "alice", SessionID: "sess-1",
		RedirectURI: o.Redirect, Scopes: o.Scopes, Audience: RS1, CodeChallenge: o.Challenge, Nonce: "n-123",
		AuthTime: now.Add(-time.Minute), ACR: "urn:gatehouse:loa:1", AMR: []string{"pwd"},
		DPoPJKT: o.DPoPJKT, CreatedAt: now, ExpiresAt: now.Add(o.ExpiresIn),
	}))
	fx.Issued = append(fx.Issued, code, verifier)
	return code, verifier, grantID
}

// Exchange redeems a code for web1 (basic auth) with the right redirect URI.
func (fx *OAuthFixture) Exchange(t *testing.T, auth, code, verifier, redirect string, extra url.Values) Result {
	t.Helper()
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirect}}
	for k, vs := range extra {
		v[k] = vs
	}
	return fx.Call(t, "/oauth2/token", auth, v)
}

// Introspect asks as RS1 (the registered resource server of the API RS1).
func (fx *OAuthFixture) Introspect(t *testing.T, tok string) map[string]any {
	t.Helper()
	o := fx.Call(t, "/oauth2/introspect", "basic:rs1", url.Values{"token": {tok}})
	if o.Status != 200 {
		t.Fatalf("introspect: %d %s", o.Status, o.Raw)
	}
	return o.Body
}

func (fx *OAuthFixture) Active(t *testing.T, tok string) bool {
	t.Helper()
	return fx.Introspect(t, tok)["active"] == true
}

// ActiveFor asks as client (basic auth), for refresh tokens.
func (fx *OAuthFixture) ActiveFor(t *testing.T, client, tok string) bool {
	t.Helper()
	o := fx.Call(t, "/oauth2/introspect", "basic:"+client, url.Values{"token": {tok}})
	return o.Body["active"] == true
}

// AuditCount flushes the batched audit log and counts events with action.
func (fx *OAuthFixture) AuditCount(t *testing.T, action string) int {
	t.Helper()
	Must(t, fx.AW.Flush(context.Background()))
	evs, err := fx.DB.Audit().List(context.Background(), store.AuditFilter{Action: action, Limit: 10000})
	Must(t, err)
	return len(evs)
}

// Rejections counts the oauth.rejected audit rows with reason (any reason if "").
func (fx *OAuthFixture) Rejections(t *testing.T, reason string) int {
	t.Helper()
	evs, err := fx.DB.Audit().List(context.Background(), store.AuditFilter{Action: "oauth.rejected", Limit: 10000})
	Must(t, err)
	n := 0
	for _, ev := range evs {
		var d map[string]any
		Must(t, json.Unmarshal(ev.Details, &d))
		if reason == "" || d["reason"] == reason {
			n++
		}
	}
	return n
}

// Rows counts the rows of a table in the fixture's database.
func (fx *OAuthFixture) Rows(t *testing.T, table string) int {
	t.Helper()
	n, err := fx.DB.Count(context.Background(), table)
	Must(t, err)
	return n
}

// Assertion builds a private_key_jwt assertion for jwt1, with mutate applied.
func (fx *OAuthFixture) Assertion(t testing.TB, mutate func(h map[string]any, c map[string]any)) string {
	t.Helper()
	now := time.Now()
	h := map[string]any{"alg": "ES256", "kid": "k1", "typ": "JWT"}
	c := map[string]any{"iss": "jwt1", "sub": "jwt1", "aud": "https://gatehouse.test/oauth2/token",
		"exp": now.Add(2 * time.Minute).Unix(), "iat": now.Unix(), "jti": token.NewID()}
	if mutate != nil {
		mutate(h, c)
	}
	opts := &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{}}
	for k, v := range h {
		if k != "alg" && k != "kid" {
			opts.ExtraHeaders[jose.HeaderKey(k)] = v
		}
	}
	sk := jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: fx.JWTKey, KeyID: h["kid"].(string)}}
	s, err := jose.NewSigner(sk, opts)
	Must(t, err)
	payload, _ := json.Marshal(c)
	obj, err := s.Sign(payload)
	Must(t, err)
	out, err := obj.CompactSerialize()
	Must(t, err)
	return out
}

func JWTForm(assertion string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {oauth.AssertionType}, "client_assertion": {assertion}}
}

// HTTPHandler defers to the fixture built once the server's URL (the issuer) is known.
func HTTPHandler(get func() *OAuthFixture) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { get().ServeHTTP(w, r) })
}
