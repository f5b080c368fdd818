package rs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/rs"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestRSAcceptsGatehouseTokens: a client_credentials token and a user token from
// the real token endpoint pass, and the handler sees sub, client_id and scopes.
func TestRSAcceptsGatehouseTokens(t *testing.T) {
	e := newEnv(t)
	tok := e.call("GET", apiURL, "Bearer "+e.clientToken("read")).ok(t)
	if tok.Subject != "svc" || tok.ClientID != "svc" || !slices.Equal(tok.Scopes, []string{"read"}) || tok.Act != nil ||
		tok.Confirmation != nil || tok.Scheme != "Bearer" || tok.Claims["client_id"] != "svc" {
		t.Fatalf("token %+v", tok)
	}
	at, _ := e.userTokens()
	tok = e.call("POST", apiURL, "bearer "+at).ok(t) // RFC 9110 §11.1: the scheme is case-insensitive
	if tok.Subject != "alice" || tok.ClientID != "web1" || !tok.HasScope("write") || tok.Issuer != e.srv.URL {
		t.Fatalf("token %+v", tok)
	}
}

// TestRSExposesTheActChain: a token obtained by token exchange (RFC 8693) with
// an actor token reaches the handler of the API it was exchanged for with its
// act claim (§4.1): alice's token, tx1 acting.
func TestRSExposesTheActChain(t *testing.T) {
	e := newEnv(t, func(c *rs.Config) { c.Audience = brokertest.RS2 })
	e.addExchanger()
	user, _ := e.userTokens()
	actor := e.fx.Call(t, "/oauth2/token", "basic:tx1", url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	o := e.fx.Call(t, "/oauth2/token", "basic:tx1", url.Values{"grant_type": {registry.GrantTokenExchange},
		"subject_token": {user}, "subject_token_type": {registry.TokenTypeAccessToken}, "audience": {brokertest.RS2}, "scope": {"read"},
		"actor_token": {actor.Str("access_token")}, "actor_token_type": {registry.TokenTypeAccessToken}})
	if o.Status != 200 {
		t.Fatalf("exchange: %d %s", o.Status, o.Raw)
	}
	tok := e.call("GET", apiURL, "Bearer "+o.Str("access_token")).ok(t)
	if tok.Subject != "alice" || tok.Act == nil || tok.Act.Subject != "tx1" || tok.ClientID != "tx1" {
		t.Fatalf("token %+v act %+v", tok, tok.Act)
	}
	// alice's own token is for RS1, not this API (SECURITY.md AS-DEL-06).
	e.call("GET", apiURL, "Bearer "+user).refused(t, 401, "Bearer", "invalid_token")
}

// TestRSNoTokenIsABareChallenge: RFC 6750 §3.1, no error code without
// credentials, both schemes challenged (RFC 9449 §7.1); another scheme counts
// as none; a malformed header or a token in the query is 400 invalid_request
// (SECURITY.md AS-JWT-08).
func TestRSNoTokenIsABareChallenge(t *testing.T) {
	e := newEnv(t)
	e.call("GET", apiURL, "").refused(t, 401, "Bearer", "")
	e.call("GET", apiURL, "Basic YWxpY2U6cHc=").refused(t, 401, "Bearer", "")
	e.call("GET", apiURL, "Bearer").refused(t, 400, "Bearer", "invalid_request")
	e.call("GET", apiURL, "Bearer a b").refused(t, 400, "Bearer", "invalid_request")
	at := e.clientToken("read")
	e.call("GET", apiURL+"?access_token="+at, "").refused(t, 400, "Bearer", "invalid_request")
	e.call("GET", apiURL, "Bearer "+at, "Authorization", "Bearer "+at).refused(t, 400, "Bearer", "invalid_request")
}

// TestRSInsufficientScope: RFC 6750 §3.1, 403 with the scope the route needs.
func TestRSInsufficientScope(t *testing.T) {
	e := newEnv(t)
	r := e.call("POST", apiURL, "Bearer "+e.clientToken("read"))
	r.refused(t, 403, "Bearer", "insufficient_scope")
	if ch := r.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `scope="write"`) {
		t.Fatalf("challenge %q lacks the scope", ch)
	}
}

// TestASJWT07_Claims: RFC 9068 §4 — another audience (AS-DEL-06), another
// issuer, expired, not yet valid, without sub, client_id or jti, and typ JWT
// (an ID token presented as an access token, RFC 8725 §3.11): each 401
// invalid_token, all signed with Gatehouse's real key.
func TestASJWT07_Claims(t *testing.T) {
	e := newEnv(t)
	_, idToken := e.userTokens()
	past := time.Now().Add(-time.Hour)
	for name, tok := range map[string]string{
		"aud RS2":       e.mint(func(c *token.AccessClaims) { c.Audience = token.Audience{brokertest.RS2} }, "at+jwt"),
		"iss":           e.mint(func(c *token.AccessClaims) { c.Issuer = "https://evil.test" }, "at+jwt"),
		"iss slash":     e.mint(func(c *token.AccessClaims) { c.Issuer += "/" }, "at+jwt"),
		"expired":       e.mint(func(c *token.AccessClaims) { c.IssuedAt, c.Expiry = past.Unix(), past.Add(time.Minute).Unix() }, "at+jwt"),
		"nbf future":    e.mintMap(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }),
		"exp string":    e.mintMap(func(c map[string]any) { c["exp"] = "tomorrow" }),
		"aud number":    e.mintMap(func(c map[string]any) { c["aud"] = 7 }),
		"iat future":    e.mint(func(c *token.AccessClaims) { c.IssuedAt = time.Now().Add(time.Hour).Unix() }, "at+jwt"),
		"no sub":        e.mint(func(c *token.AccessClaims) { c.Subject = "" }, "at+jwt"),
		"no client_id":  e.mint(func(c *token.AccessClaims) { c.ClientID = "" }, "at+jwt"),
		"no jti":        e.mint(func(c *token.AccessClaims) { c.ID = "" }, "at+jwt"),
		"typ JWT":       e.mint(nil, "JWT"),
		"ID token":      idToken,
		"typ dpop+jwt":  e.mint(nil, "dpop+jwt"),
		"garbage":       "a.b.c",
		"opaque":        "c29tZXRoaW5n",
		"refresh-ish":   strings.Repeat("A", 43),
		"long":          strings.Repeat("A", 100) + "." + strings.Repeat("B", 100) + "." + strings.Repeat("C", 100),
		"nested quotes": `"x".y.z`,
	} {
		t.Run(name, func(t *testing.T) {
			status := 401
			if name == "nested quotes" {
				status = 400 // not a b64token (RFC 6750 §2.1)
			}
			code := map[int]string{401: "invalid_token", 400: "invalid_request"}[status]
			e.call("GET", apiURL, "Bearer "+tok).refused(t, status, "Bearer", code)
		})
	}
	// The control: the same minting, untouched, passes; and application/at+jwt
	// is the same type (RFC 9068 §4 step 2).
	e.call("GET", apiURL, "Bearer "+e.mint(nil, "at+jwt")).ok(t)
	e.call("GET", apiURL, "Bearer "+e.mint(nil, "application/at+jwt")).ok(t)
	// Within the leeway: expired 10 s ago passes with the default 30 s.
	e.call("GET", apiURL, "Bearer "+e.mint(func(c *token.AccessClaims) { c.Expiry = time.Now().Add(-10 * time.Second).Unix() }, "at+jwt")).ok(t)
}

// TestASJWT01_AlgNone: a valid token re-headed alg none with no signature.
func TestASJWT01_AlgNone(t *testing.T) {
	e := newEnv(t)
	parts := strings.Split(e.clientToken("read"), ".")
	var h map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	brokertest.Must(t, json.Unmarshal(raw, &h))
	for _, alg := range []string{"none", "None", "NONE"} {
		h["alg"] = alg
		hb, _ := json.Marshal(h)
		forged := base64.RawURLEncoding.EncodeToString(hb) + "." + parts[1] + "."
		e.call("GET", apiURL, "Bearer "+forged).refused(t, 401, "Bearer", "invalid_token")
		e.call("GET", apiURL, "Bearer "+forged+parts[2]).refused(t, 401, "Bearer", "invalid_token")
	}
}

// TestASJWT02_HS256WithThePublicKey: the token's claims re-signed HS256 with
// Gatehouse's published key (JWK JSON, PEM, DER) as the HMAC secret.
func TestASJWT02_HS256WithThePublicKey(t *testing.T) {
	e := newEnv(t)
	parts := strings.Split(e.clientToken("read"), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	res, err := e.srv.Client().Get(e.srv.URL + "/oauth2/jwks")
	brokertest.Must(t, err)
	var set jose.JSONWebKeySet
	brokertest.Must(t, json.NewDecoder(res.Body).Decode(&set))
	res.Body.Close()
	for _, k := range set.Keys {
		jwk, _ := k.MarshalJSON()
		der, err := x509.MarshalPKIXPublicKey(k.Key)
		brokertest.Must(t, err)
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		for _, secret := range [][]byte{jwk, der, pemBytes} {
			for _, alg := range []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512} {
				s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: secret},
					(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", k.KeyID))
				brokertest.Must(t, err)
				obj, err := s.Sign(payload)
				brokertest.Must(t, err)
				forged, _ := obj.CompactSerialize()
				e.call("GET", apiURL, "Bearer "+forged).refused(t, 401, "Bearer", "invalid_token")
			}
		}
	}
}

// TestASJWT03_AlgorithmSwap: the ES256 token re-headed with another algorithm
// (its key's published alg decides, RFC 8725 §3.1), and the RS256 key's kid
// on the ES256 signature.
func TestASJWT03_AlgorithmSwap(t *testing.T) {
	e := newEnv(t)
	parts := strings.Split(e.clientToken("read"), ".")
	var h map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	brokertest.Must(t, json.Unmarshal(raw, &h))
	kids, err := e.fx.KM.KeyIDs(context.Background())
	brokertest.Must(t, err)
	for _, alg := range []string{"ES384", "RS256", "PS256", "EdDSA"} {
		for _, kid := range kids {
			h["alg"], h["kid"] = alg, kid
			hb, _ := json.Marshal(h)
			forged := base64.RawURLEncoding.EncodeToString(hb) + "." + parts[1] + "." + parts[2]
			e.call("GET", apiURL, "Bearer "+forged).refused(t, 401, "Bearer", "invalid_token")
		}
	}
}

// TestASJWT05_EmbeddedKeys: the attacker's own key in jwk, a jku and x5u at a
// canary: refused, and the canary is never asked (keys come from the issuer's
// JWKS only, RFC 8725 §3.10).
func TestASJWT05_EmbeddedKeys(t *testing.T) {
	e := newEnv(t)
	var canary atomic.Int64
	c := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { canary.Add(1) }))
	defer c.Close()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	brokertest.Must(t, err)
	parts := strings.Split(e.mint(nil, "at+jwt"), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	for _, opts := range []*jose.SignerOptions{
		(&jose.SignerOptions{EmbedJWK: true}).WithType("at+jwt"),
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("jku", c.URL).WithHeader("kid", "attacker"),
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("x5u", c.URL),
	} {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
		brokertest.Must(t, err)
		obj, err := s.Sign(payload)
		brokertest.Must(t, err)
		forged, _ := obj.CompactSerialize()
		e.call("GET", apiURL, "Bearer "+forged).refused(t, 401, "Bearer", "invalid_token")
	}
	if canary.Load() != 0 {
		t.Fatalf("the canary was asked %d times", canary.Load())
	}
}

// TestASJWT12_OversizedToken: a megabyte of dots or a 10 MB token is refused
// before any parsing.
func TestASJWT12_OversizedToken(t *testing.T) {
	e := newEnv(t)
	e.call("GET", apiURL, "Bearer "+strings.Repeat(".", 1<<20)).refused(t, 401, "Bearer", "invalid_token")
	e.call("GET", apiURL, "Bearer "+strings.Repeat("A", 10<<20)).refused(t, 401, "Bearer", "invalid_token")
	e.call("GET", apiURL, "Bearer "+strings.Repeat("A", 5000)+"."+strings.Repeat("B", 5000)+".C").refused(t, 401, "Bearer", "invalid_token")
}

// TestASJWT10_RotationRefetchesTheJWKS: after Gatehouse rotates its signing key
// (the compromised one revoked, a new one active at once), a token of the new
// key is accepted after one JWKS refetch; before RefreshInterval has passed since
// the last fetch the unknown kid is refused without asking Gatehouse.
func TestASJWT10_RotationRefetchesTheJWKS(t *testing.T) {
	e := newEnv(t)
	old := e.clientToken("read")
	e.call("GET", apiURL, "Bearer "+old).ok(t)
	ctx := context.Background()
	signer, err := e.fx.KM.Signer(ctx)
	brokertest.Must(t, err)
	_, err = e.fx.KM.Revoke(ctx, signer.KeyID())
	brokertest.Must(t, err)
	fresh := e.clientToken("read")
	before := e.jwks.Load()
	e.call("GET", apiURL, "Bearer "+fresh).refused(t, 401, "Bearer", "invalid_token")
	if n := e.jwks.Load() - before; n != 0 {
		t.Fatalf("%d JWKS fetches within RefreshInterval of the last", n)
	}
	e.clock.Add(31 * time.Second)
	e.call("GET", apiURL, "Bearer "+fresh).ok(t)
	e.call("GET", apiURL, "Bearer "+fresh).ok(t)
	if n := e.jwks.Load() - before; n != 1 {
		t.Fatalf("%d JWKS fetches for the rotated key, want 1", n)
	}
	// The revoked key left the JWKS: its tokens stop verifying once the cached
	// set is older than MaxKeyAge (the bounded staleness of AS-REV-02).
	e.clock.Add(11 * time.Minute)
	e.call("GET", apiURL, "Bearer "+old).refused(t, 401, "Bearer", "invalid_token")
}

// TestRSForgedKidsDoNotHammerTheJWKS: SECURITY.md OIDC-11 for the resource
// server: a flood of tokens with unknown kids, concurrent, costs Gatehouse at
// most one JWKS request per RefreshInterval.
func TestRSForgedKidsDoNotHammerTheJWKS(t *testing.T) {
	e := newEnv(t)
	parts := strings.Split(e.clientToken("read"), ".")
	e.clock.Add(time.Minute)
	before := e.jwks.Load()
	done := make(chan struct{})
	for i := range 50 {
		go func() {
			defer func() { done <- struct{}{} }()
			h, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "at+jwt", "kid": "forged-" + string(rune('a'+i%26))})
			forged := base64.RawURLEncoding.EncodeToString(h) + "." + parts[1] + "." + parts[2]
			r := httptest.NewRequest("GET", apiURL, nil)
			r.Header.Set("Authorization", "Bearer "+forged)
			w := httptest.NewRecorder()
			e.api.ServeHTTP(w, r)
			if w.Code != 401 {
				t.Errorf("forged kid: %d", w.Code)
			}
		}()
	}
	for range 50 {
		<-done
	}
	if n := e.jwks.Load() - before; n > 1 {
		t.Fatalf("%d JWKS fetches for 50 forged kids, want at most 1", n)
	}
}

// TestRSConfigRefusesSymmetricAlgorithms: none and HS256 cannot be configured,
// nor an issuer over plain http off loopback, nor a discovery document naming
// another issuer (RFC 8414 §3.3).
func TestRSConfigRefusesSymmetricAlgorithms(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []rs.Config{
		{Issuer: "https://gatehouse.test", Audience: "x", Algorithms: []string{"HS256"}},
		{Issuer: "https://gatehouse.test", Audience: "x", Algorithms: []string{"none"}},
		{Issuer: "https://gatehouse.test", Audience: "x", DPoPAlgorithms: []string{"HS256"}},
		{Issuer: "http://gatehouse.test", Audience: "x"},
		{Issuer: "https://gatehouse.test"},
	} {
		if _, err := rs.New(ctx, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	e := newEnv(t)
	if _, err := rs.New(ctx, rs.Config{Issuer: e.srv.URL + "/", Audience: "x", HTTPClient: e.srv.Client()}); err == nil ||
		!strings.Contains(err.Error(), "issuer") {
		t.Errorf("another issuer's discovery accepted: %v", err)
	}
}
