package rs_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/rs"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// env is a real Gatehouse (brokertest.OAuthFixture: the SECURITY.md §4 clients,
// APIs RS1 and RS2, user alice) on httptest TLS, its JWKS requests counted, and
// an API for RS1 behind a Verifier whose clock the test moves.
type env struct {
	t     *testing.T
	fx    *brokertest.OAuthFixture
	srv   *httptest.Server
	jwks  atomic.Int64 // JWKS requests Gatehouse answered
	clock *clock
	v     *rs.Verifier
	api   http.Handler // RS1: GET /notes needs read, POST /notes needs write
	seen  atomic.Pointer[rs.Token]
}

const apiURL = "https://api1.test/notes"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newEnv(t *testing.T, mut ...func(*rs.Config)) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Now()}}
	e.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/jwks" {
			e.jwks.Add(1)
		}
		e.fx.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.fx = brokertest.NewOAuthFixture(t, map[string]string{"GATEHOUSE_ISSUER": e.srv.URL})
	cfg := rs.Config{Issuer: e.srv.URL, Audience: brokertest.RS1, HTTPClient: e.srv.Client(), Now: e.clock.Now}
	for _, m := range mut {
		m(&cfg)
	}
	v, err := rs.New(context.Background(), cfg)
	brokertest.Must(t, err)
	e.v = v
	mux := http.NewServeMux()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.seen.Store(rs.TokenFrom(r.Context()))
		io.WriteString(w, "ok")
	})
	mux.Handle("GET /notes", v.Require("read")(h))
	mux.Handle("POST /notes", v.Require("write")(h))
	e.api = mux
	return e
}

// reply is the API's answer, and the token its handler saw (nil: not reached).
type reply struct {
	Status int
	Header http.Header
	Token  *rs.Token
}

// call sends a request to the API with an Authorization header (none if "")
// and extra headers as name, value pairs.
func (e *env) call(method, target, authz string, hdr ...string) reply {
	e.t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	e.seen.Store(nil)
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	return reply{Status: w.Code, Header: w.Header(), Token: e.seen.Load()}
}

// ok asserts the request reached the handler.
func (r reply) ok(t *testing.T) *rs.Token {
	t.Helper()
	if r.Status != http.StatusOK || r.Token == nil {
		t.Fatalf("refused: %d %q", r.Status, r.Header.Values("WWW-Authenticate"))
	}
	return r.Token
}

// refused asserts the status, that the challenge of scheme carries code (and
// the other scheme's none), that both schemes are challenged (RFC 9449 §7.1),
// and that the handler never ran.
func (r reply) refused(t *testing.T, status int, scheme, code string) {
	t.Helper()
	if r.Token != nil {
		t.Fatalf("the handler ran for a refused request (status %d)", r.Status)
	}
	if r.Status != status {
		t.Fatalf("status %d, want %d (%q)", r.Status, status, r.Header.Values("WWW-Authenticate"))
	}
	ch := r.Header.Values("WWW-Authenticate")
	if len(ch) != 2 || !strings.HasPrefix(ch[0], "Bearer") || !strings.HasPrefix(ch[1], "DPoP") || !strings.Contains(ch[1], `algs="ES256`) {
		t.Fatalf("challenges %q, want Bearer and DPoP with algs", ch)
	}
	for _, c := range ch {
		has := strings.Contains(c, "error=")
		mine := strings.HasPrefix(c, scheme)
		if mine && code != "" && !strings.Contains(c, `error="`+code+`"`) || !mine && has || code == "" && has {
			t.Fatalf("challenges %q, want %s with error %q", ch, scheme, code)
		}
	}
}

// clientToken is a client_credentials token of svc for RS1 with scope.
func (e *env) clientToken(scope string) string {
	e.t.Helper()
	o := e.fx.Call(e.t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
	if o.Status != 200 {
		e.t.Fatalf("token: %d %s", o.Status, o.Raw)
	}
	return o.Str("access_token")
}

// userTokens are alice's tokens for web1 from a code redeemed at the real token
// endpoint: the access token (RS1, read write) and the ID token.
func (e *env) userTokens() (access, id string) {
	e.t.Helper()
	code, verifier, _ := e.fx.NewCode(e.t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb",
		Scopes: []string{"openid", "read", "write"}})
	o := e.fx.Exchange(e.t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	if o.Status != 200 {
		e.t.Fatalf("code: %d %s", o.Status, o.Raw)
	}
	return o.Str("access_token"), o.Str("id_token")
}

// mint signs access-token claims with Gatehouse's active key, as its token
// endpoint does, after mut: for claims no grant issues (an expired token,
// another issuer).
func (e *env) mint(mut func(*token.AccessClaims), typ string) string {
	e.t.Helper()
	c := token.NewAccess(e.srv.URL, token.AccessGrant{ClientID: "svc", Audience: brokertest.RS1, Scopes: []string{"read"}},
		time.Now(), 5*time.Minute)
	if mut != nil {
		mut(c)
	}
	s, err := e.fx.KM.Sign(context.Background(), c, typ)
	brokertest.Must(e.t, err)
	return s
}

// mintMap is mint with the claims as a map, for claims AccessClaims does not
// carry (nbf) or values of the wrong type.
func (e *env) mintMap(mut func(map[string]any)) string {
	e.t.Helper()
	parts := strings.Split(e.mint(nil, "at+jwt"), ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	brokertest.Must(e.t, err)
	var c map[string]any
	brokertest.Must(e.t, json.Unmarshal(raw, &c))
	mut(c)
	s, err := e.fx.KM.Sign(context.Background(), c, "at+jwt")
	brokertest.Must(e.t, err)
	return s
}

// addExchanger registers tx1, the resource server of RS1 that exchanges the
// user tokens it receives for tokens at RS2 (RFC 8693), acting as itself.
func (e *env) addExchanger() {
	e.t.Helper()
	c := store.Client{ID: "tx1", GrantTypes: []string{registry.GrantClientCredentials, registry.GrantTokenExchange},
		Scopes: []string{"read"}, DefaultAudience: brokertest.RS2, Audiences: []string{brokertest.RS1},
		ResourceServerFor: []string{brokertest.RS1}, ExchangeTokenTypes: []string{registry.TokenTypeAccessToken},
		TokenEndpointAuthMethod: registry.AuthSecretBasic, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	secret, hash := registry.NewSecret()
	c.SecretHash, e.fx.Secrets[c.ID] = hash, secret
	brokertest.Must(e.t, registry.ValidateClient(c))
	brokertest.Must(e.t, e.fx.DB.Clients().Create(context.Background(), c))
}
