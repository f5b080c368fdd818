package exchange_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// The exchange fixture, on harness H1 (brokertest.SigninEnv: the wired broker
// on httptest TLS with a fixed clock, the real in-process OIDC issuer and
// crewjam SAML IdP):
//   - providers corp (OIDC, exchange of ID tokens for the app "cli-app") and
//     uni (SAML), each with a linked user (alice, carol), and login (OIDC,
//     sign-in only);
//   - APIs RS1 (read, write, staff-only "payroll", admin-only "admin") and RS2
//     (read);
//   - clients: cli (exchanges upstream tokens), web1 (browser app whose user
//     tokens are for RS1), svc1 and svc2 (resource servers of RS1 and RS2 that
//     exchange the user tokens they receive, acting with their own
//     client_credentials tokens), nogrant, pub (public).
type fixture struct {
	*brokertest.SigninEnv
	t       testing.TB
	corp    *providertest.OIDCIssuer
	login   *providertest.OIDCIssuer
	uni     *providertest.SAMLIdP
	secrets map[string]string
}

const (
	rs1    = "https://api1.test"
	rs2    = "https://api2.test"
	cliApp = "cli-app"
)

var (
	typeAT   = registry.TokenTypeAccessToken
	typeID   = registry.TokenTypeIDToken
	typeSAML = registry.TokenTypeSAML2
)

type fixtureOpts struct {
	oneTime, createUsers bool
	settings             map[string]string
	// checkEvery is how often providers are re-read; 0: every request.
	checkEvery time.Duration
}

func newFixture(t testing.TB, o ...fixtureOpts) *fixture {
	t.Helper()
	var opt fixtureOpts
	if len(o) > 0 {
		opt = o[0]
	}
	e := brokertest.NewSigninEnv(t, brokertest.Options{Settings: opt.settings, CheckEvery: opt.checkEvery})
	fx := &fixture{SigninEnv: e, t: t, secrets: map[string]string{}}
	ctx := context.Background()
	brokertest.Must(t, e.KeyManagers[0].EnsureKey(ctx))
	x := upstream.ExchangeSettings{Enabled: true, Audiences: []string{cliApp}, OneTime: opt.oneTime, CreateUsers: opt.createUsers}
	fx.corp = e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims(), func(s *upstream.Spec) {
		s.OIDC.Exchange = x
	})
	fx.login = e.AddOIDC("login", "login.example", false, brokertest.AliceClaims())
	fx.uni = e.AddSAML("uni", "saml.example", false, brokertest.Carol(), func(s *upstream.Spec) {
		s.SAML.Exchange = upstream.ExchangeSettings{Enabled: true, CreateUsers: opt.createUsers}
	})
	now := e.Clk.Now()
	brokertest.Must(t, e.DB.Identities().LinkNewUser(ctx, store.User{ID: "alice", Email: "alice@oidc.example", EmailVerified: true,
		CreatedAt: now, UpdatedAt: now}, store.Identity{ProviderID: "corp", Subject: "alice-sub", UserID: "alice", LinkedAt: now, LastLoginAt: now}))
	brokertest.Must(t, e.DB.Identities().LinkNewUser(ctx, store.User{ID: "carol", Email: "carol@saml.example", EmailVerified: true,
		CreatedAt: now, UpdatedAt: now}, store.Identity{ProviderID: "uni", Subject: "carol@saml.example", UserID: "carol", LinkedAt: now, LastLoginAt: now}))
	brokertest.Must(t, e.DB.APIs().Create(ctx, store.API{ID: "rs1", Audience: rs1, Name: "API 1", Scopes: []store.Scope{
		{Name: "read"}, {Name: "write"}, {Name: "payroll", Roles: []string{"staff"}}, {Name: "admin", Roles: []string{"admin"}}}, CreatedAt: now}))
	brokertest.Must(t, e.DB.APIs().Create(ctx, store.API{ID: "rs2", Audience: rs2, Name: "API 2", Scopes: []store.Scope{{Name: "read"}}, CreatedAt: now}))
	tx := []string{registry.GrantTokenExchange}
	cc := []string{registry.GrantClientCredentials, registry.GrantTokenExchange}
	for _, c := range []store.Client{
		{ID: "cli", GrantTypes: cc, Scopes: []string{"openid", "read", "write", "payroll", "admin"}, DefaultAudience: rs1,
			Audiences: []string{rs2}, ExchangeTokenTypes: []string{typeID, typeSAML}, ExchangeProviders: []string{"corp", "uni"}},
		{ID: "cli2", GrantTypes: tx, Scopes: []string{"read"}, DefaultAudience: rs1,
			ExchangeTokenTypes: []string{typeID, typeSAML}, ExchangeProviders: []string{"uni"}},
		{ID: "web1", RedirectURIs: []string{"https://app1.test/cb"}, GrantTypes: []string{registry.GrantAuthorizationCode},
			Scopes: []string{"openid", "read", "write"}, DefaultAudience: rs1},
		{ID: "svc1", GrantTypes: cc, Scopes: []string{"read", "write", "payroll"}, DefaultAudience: rs2, Audiences: []string{rs1},
			ResourceServerFor: []string{rs1}, ExchangeTokenTypes: []string{typeAT}},
		{ID: "svc2", GrantTypes: cc, Scopes: []string{"read", "write", "payroll"}, DefaultAudience: rs1, Audiences: []string{rs2},
			ResourceServerFor: []string{rs2}, ExchangeTokenTypes: []string{typeAT}},
		{ID: "nogrant", GrantTypes: []string{registry.GrantClientCredentials}, Scopes: []string{"read"}, DefaultAudience: rs1},
	} {
		secret, hash := registry.NewSecret()
		c.SecretHash, c.TokenEndpointAuthMethod = hash, registry.AuthSecretBasic
		fx.secrets[c.ID] = secret
		c.CreatedAt, c.UpdatedAt = now, now
		brokertest.Must(t, registry.ValidateClient(c))
		brokertest.Must(t, registry.ValidateExchangeProviders(ctx, e.DB.Providers(), c))
		brokertest.Must(t, e.DB.Clients().Create(ctx, c))
	}
	// Registration refuses a public client the grant (registry.ValidateClient):
	// stored as if an older version had let it in, for the defence in depth.
	brokertest.Must(t, e.DB.Clients().Create(ctx, store.Client{ID: "pub", Public: true, GrantTypes: tx, Scopes: []string{"read"},
		DefaultAudience: rs1, TokenEndpointAuthMethod: registry.AuthNone, ExchangeTokenTypes: []string{typeID},
		ExchangeProviders: []string{"corp"}, CreatedAt: now, UpdatedAt: now}))
	return fx
}

// result is a decoded token-endpoint answer.
type result = brokertest.Result

// call posts form to path as client (basic auth; "" for none, "pub" by client_id).
func (fx *fixture) call(client, path string, form url.Values) result {
	fx.t.Helper()
	if client == "pub" {
		form.Set("client_id", "pub")
	}
	req, _ := http.NewRequest(http.MethodPost, fx.TS.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if s, ok := fx.secrets[client]; ok {
		req.SetBasicAuth(client, s)
	}
	res, err := fx.TS.Client().Do(req)
	if err != nil {
		fx.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := result{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if res.StatusCode >= 500 {
		fx.t.Logf("server log:\n%s", fx.Logs.String())
	}
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		fx.t.Fatalf("%s: not JSON: %d %q", path, res.StatusCode, raw)
	}
	return out
}

// exchange asks for a token exchange of subject (of type typ) as client.
func (fx *fixture) exchange(client, subject, typ string, extra ...string) result {
	fx.t.Helper()
	f := url.Values{"grant_type": {registry.GrantTokenExchange}, "subject_token": {subject}, "subject_token_type": {typ}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Add(extra[i], extra[i+1])
	}
	return fx.call(client, "/oauth2/token", f)
}

// ok asserts a successful exchange and returns the issued token's claims.
func (fx *fixture) ok(r result) (string, token.AccessClaims) {
	fx.t.Helper()
	if r.Status != 200 || r.Str("issued_token_type") != typeAT || r.Str("token_type") != "Bearer" ||
		r.Header.Get("Cache-Control") != "no-store" {
		fx.t.Fatalf("exchange: %d %s", r.Status, r.Raw)
	}
	for _, k := range []string{"refresh_token", "id_token"} {
		if _, has := r.Body[k]; has {
			fx.t.Fatalf("exchange issued a %s", k)
		}
	}
	at := r.Str("access_token")
	return at, decode(fx.t, at)
}

// refused asserts an RFC 8693 §2.2.2 error, and that nothing was issued: no
// token in the answer and no token.exchanged event beyond the want count.
func (fx *fixture) refused(r result, status int, code string, exchangedBefore int) {
	fx.t.Helper()
	r.WantError(fx.t.(*testing.T), status, code)
	if n := len(fx.Audited("token.exchanged")); n != exchangedBefore {
		fx.t.Fatalf("token.exchanged events: %d, want %d", n, exchangedBefore)
	}
}

func (fx *fixture) exchanged() int { fx.t.Helper(); return len(fx.Audited("token.exchanged")) }

func decode(t testing.TB, at string) token.AccessClaims {
	t.Helper()
	parts := strings.Split(at, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", at)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	brokertest.Must(t, err)
	var cl token.AccessClaims
	brokertest.Must(t, json.Unmarshal(b, &cl))
	return cl
}

// introspect asks as client (a resource server) about tok.
func (fx *fixture) introspect(client, tok string) map[string]any {
	fx.t.Helper()
	r := fx.call(client, "/oauth2/introspect", url.Values{"token": {tok}})
	if r.Status != 200 {
		fx.t.Fatalf("introspect: %d %s", r.Status, r.Raw)
	}
	return r.Body
}

func (fx *fixture) active(client, tok string) bool {
	return fx.introspect(client, tok)["active"] == true
}

// idToken is an ID token of corp for cli-app, claims changed by mut (nil deletes).
func (fx *fixture) idToken(mut map[string]any) string {
	return signedIDToken(fx.corp, mut)
}

func signedIDToken(iss *providertest.OIDCIssuer, mut map[string]any) string {
	c := iss.Claims("")
	c["aud"] = cliApp
	for k, v := range mut {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return providertest.SignJWT(iss.Keys()[0], true, nil, c)
}

// assertion is a signed SAML assertion of uni for exchange at the token
// endpoint, changed by mut.
func (fx *fixture) assertion(mut ...func(*providertest.Assertion)) string {
	now := fx.Clk.Now()
	issuer, _ := url.Parse(fx.TS.URL)
	a := providertest.Assertion{ID: "_x" + token.NewID(), Issuer: fx.uni.IdP.Metadata().EntityID, NameID: "carol@saml.example",
		NameIDFormat: string(crewjam.EmailAddressNameIDFormat), Audience: upstream.EndpointsFor(issuer, "uni").EntityID,
		Recipient: fx.TS.URL + "/oauth2/token", IssueInstant: now, NotBefore: now.Add(-time.Minute), NotOnOrAfter: now.Add(5 * time.Minute),
		Attributes: map[string][]string{"mail": {"carol@saml.example"}, "eduPersonAffiliation": {"faculty"}}}
	for _, m := range mut {
		m(&a)
	}
	k, c := brokertest.SAMLKeys()
	el := providertest.Signer{Key: k, Cert: c}.Sign(providertest.BuildAssertion(a))
	d := etree.NewDocument()
	d.SetRoot(el)
	var b bytes.Buffer
	if _, err := d.WriteTo(&b); err != nil {
		fx.t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b.Bytes())
}

// userToken is an access token Gatehouse issued to client for alice at aud,
// from her browser session sess-a (as the authorization-code grant mints it).
func (fx *fixture) userToken(client, aud string, scopes ...string) string {
	fx.t.Helper()
	now := fx.Clk.Now()
	ctx := context.Background()
	if _, err := fx.DB.Sessions().Get(ctx, "sess-a"); err != nil {
		brokertest.Must(fx.t, fx.DB.Sessions().Create(ctx, store.Session{ID: "sess-a", TokenHash: []byte("h-a"), UserID: "alice",
			ProviderID: "corp", Subject: "alice-sub", Roles: []string{"staff"}, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}))
	}
	return fx.mint(token.AccessGrant{ClientID: client, Subject: "alice", Audience: aud, Scopes: scopes, GrantID: "grant-a",
		SessionID: "sess-a", AuthTime: now.Add(-time.Minute), ACR: "urn:gatehouse:loa:1", AMR: []string{"pwd"}}, 10*time.Minute)
}

func (fx *fixture) mint(g token.AccessGrant, ttl time.Duration) string {
	fx.t.Helper()
	signer, err := fx.KeyManagers[0].Signer(context.Background())
	brokertest.Must(fx.t, err)
	at, err := signer.Sign(token.NewAccess(fx.Cfg.Issuer.String(), g, fx.Clk.Now(), ttl), token.TypeAccess)
	brokertest.Must(fx.t, err)
	return at
}

// clientToken is client's own client_credentials token.
func (fx *fixture) clientToken(client string) string {
	fx.t.Helper()
	r := fx.call(client, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}})
	if r.Status != 200 {
		fx.t.Fatalf("client_credentials for %s: %d %s", client, r.Status, r.Raw)
	}
	return r.Str("access_token")
}

// ops are the admin operations over the fixture's database.
func (fx *fixture) ops() *operations.Service {
	return &operations.Service{Store: fx.DB, Upstream: fx.Srv().Upstreams().Env(), Audit: fx.Audits[0],
		AccessTokenTTL: fx.Cfg.AccessTokenTTL, Now: fx.Clk.Now}
}

// replayRows counts the replay cache's rows.
func (fx *fixture) replayRows() int { return fx.Count("replay_cache") }

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
