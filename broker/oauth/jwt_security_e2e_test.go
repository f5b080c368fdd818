package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/broker/token"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// SECURITY.md §4.9: Gatehouse's own JWTs presented back to it. Each hostile token
// goes to userinfo (401 invalid_token) and to introspection (inactive).

// jwtEnv is a signed-in alice with a real access token to forge from.
type jwtEnv struct {
	*brokertest.AuthzEnv
	at     string         // a genuine access token (openid notes.read)
	header map[string]any // its protected header
	claims map[string]any // its claims
}

func newJWTEnv(t *testing.T) *jwtEnv {
	e := &jwtEnv{AuthzEnv: brokertest.NewAuthzEnv(t)}
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid profile notes.read")
	_, tok := e.Redeem("web", e.Code(b, q).Get("code"), q.Verifier, brokertest.AppCB)
	e.at = tok["access_token"].(string)
	parts := strings.Split(e.at, ".")
	brokertest.Must(t, json.Unmarshal(b64(t, parts[0]), &e.header))
	brokertest.Must(t, json.Unmarshal(b64(t, parts[1]), &e.claims))
	if e.refused(t, e.at) {
		t.Fatal("the genuine token is refused")
	}
	return e
}

func b64(t *testing.T, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	brokertest.Must(t, err)
	return b
}

func seg(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// withHeader returns the genuine token with its header changed and its genuine
// signature kept.
func (e *jwtEnv) withHeader(change func(h map[string]any)) string {
	h := map[string]any{}
	for k, v := range e.header {
		h[k] = v
	}
	change(h)
	parts := strings.Split(e.at, ".")
	return seg(h) + "." + parts[1] + "." + parts[2]
}

// refused reports whether both userinfo and introspection refuse tok.
func (e *jwtEnv) refused(t *testing.T, tok string) bool {
	t.Helper()
	ui := e.userinfoRefuses(tok)
	inactive := e.inactive(t, tok)
	if ui != inactive {
		t.Errorf("userinfo refused=%v but introspection inactive=%v", ui, inactive)
	}
	return ui && inactive
}

func (e *jwtEnv) userinfoRefuses(tok string) bool {
	res := e.UserinfoCall(http.MethodGet, "/oauth2/userinfo", "Bearer "+tok)
	return res.StatusCode == 401 && strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
}

// inactive: introspection by the token's own client says inactive, or refuses
// the request outright (an oversized token parameter, DOS-11).
func (e *jwtEnv) inactive(t *testing.T, tok string) bool {
	t.Helper()
	v := url.Values{"token": {tok}}
	req, _ := http.NewRequest(http.MethodPost, e.TS.URL+"/oauth2/introspect", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", e.Secrets["web"])
	ires, err := e.TS.Client().Do(req)
	brokertest.Must(t, err)
	defer ires.Body.Close()
	var out map[string]any
	json.NewDecoder(ires.Body).Decode(&out)
	return ires.StatusCode == 200 && out["active"] == false || ires.StatusCode == 400 && out["error"] == "invalid_request"
}

func TestASJWT03_AlgorithmSwap(t *testing.T) {
	t.Parallel()
	e := newJWTEnv(t)
	jwks := e.Get(brokertest.NewClient(e.SigninEnv), "/oauth2/jwks")
	var set json.RawMessage
	json.NewDecoder(jwks.Body).Decode(&set)
	jwks.Body.Close()
	for _, alg := range []string{"RS256", "PS256", "ES384", "ES512", "EdDSA", "none", "HS256"} {
		tok := e.withHeader(func(h map[string]any) { h["alg"] = alg })
		if alg == "HS256" { // keyed with the published key set, as a confused verifier would
			parts := strings.Split(tok, ".")
			m := hmac.New(sha256.New, set)
			m.Write([]byte(parts[0] + "." + parts[1]))
			tok = parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
		}
		if !e.refused(t, tok) {
			t.Errorf("alg %s accepted", alg)
		}
	}
}

func TestASJWT04_KidInjection(t *testing.T) {
	t.Parallel()
	e := newJWTEnv(t)
	for name, kid := range map[string]any{
		"path traversal": "../../../../dev/null",
		"sql":            "' OR '1'='1",
		"shell":          "$(id)",
		"10 KB":          strings.Repeat("k", 10<<10),
		"null byte":      "abc\x00def",
		"not a string":   42,
		"missing":        nil,
	} {
		tok := e.withHeader(func(h map[string]any) {
			if kid == nil {
				delete(h, "kid")
			} else {
				h["kid"] = kid
			}
		})
		if !e.refused(t, tok) {
			t.Errorf("kid %s accepted", name)
		}
	}
	if strings.Contains(e.Logs.String(), strings.Repeat("k", 10<<10)) {
		t.Error("a 10 KB kid reached the log untruncated")
	}
}

// TestASJWT05_EmbeddedKeys: keys the token carries itself are never trusted, and
// URLs it names are never fetched.
func TestASJWT05_EmbeddedKeys(t *testing.T) {
	t.Parallel()
	e := newJWTEnv(t)
	var hits atomic.Int32
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer canary.Close()
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	brokertest.Must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &attacker.PublicKey, attacker)
	brokertest.Must(t, err)
	pub := jose.JSONWebKey{Key: &attacker.PublicKey, Algorithm: "ES256", Use: "sig"}
	for name, extra := range map[string]map[string]any{
		"jwk":        {"jwk": pub},
		"jku":        {"jku": canary.URL + "/jwks"},
		"x5u":        {"x5u": canary.URL + "/cert"},
		"x5c":        {"x5c": []string{base64.StdEncoding.EncodeToString(certDER)}},
		"kid of jwk": {"jwk": pub, "kid": "attacker"},
	} {
		// Signed by the attacker's key, as the embedded material says.
		opts := (&jose.SignerOptions{}).WithType("at+jwt")
		for k, v := range extra {
			opts = opts.WithHeader(jose.HeaderKey(k), v)
		}
		if _, ok := extra["kid"]; !ok {
			opts = opts.WithHeader("kid", e.header["kid"])
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: attacker}, opts)
		brokertest.Must(t, err)
		payload, _ := json.Marshal(e.claims)
		jws, err := signer.Sign(payload)
		brokertest.Must(t, err)
		tok, err := jws.CompactSerialize()
		brokertest.Must(t, err)
		if !e.refused(t, tok) {
			t.Errorf("%s: a token signed with an embedded key was accepted", name)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the canary was fetched %d times", n)
	}
}

// TestASJWT07_Claims: tokens signed with Gatehouse's own key but with claims that
// make them unusable are refused.
func TestASJWT07_Claims(t *testing.T) {
	t.Parallel()
	e := newJWTEnv(t)
	km := e.KeyManagers[e.Active.Load()]
	now := e.Clk.Now().Unix()
	for name, c := range map[string]struct {
		change       func(c map[string]any)
		typ          string
		userinfoOnly bool // still a good token for its API: introspection may say active
	}{
		"expired":          {func(c map[string]any) { c["exp"] = now - 1 }, token.TypeAccess, false},
		"nbf in future":    {func(c map[string]any) { c["nbf"] = now + 3600 }, token.TypeAccess, false},
		"iat in future":    {func(c map[string]any) { c["iat"] = now + 3600 }, token.TypeAccess, false},
		"other issuer":     {func(c map[string]any) { c["iss"] = "https://evil.test" }, token.TypeAccess, false},
		"no jti":           {func(c map[string]any) { delete(c, "jti") }, token.TypeAccess, false},
		"typ JWT":          {func(map[string]any) {}, "JWT", false},
		"typ application/": {func(map[string]any) {}, "application/at+jwt", false},
		"aud not us":       {func(c map[string]any) { c["aud"] = []string{brokertest.NotesAPI} }, token.TypeAccess, true},
		"no sub":           {func(c map[string]any) { delete(c, "sub") }, token.TypeAccess, true},
	} {
		claims := map[string]any{}
		for k, v := range e.claims {
			claims[k] = v
		}
		c.change(claims)
		tok, err := km.Sign(context.Background(), claims, c.typ)
		brokertest.Must(t, err)
		if c.userinfoOnly && !e.userinfoRefuses(tok) || !c.userinfoOnly && !e.refused(t, tok) {
			t.Errorf("%s: accepted", name)
		}
	}
	// The control: the same claims, re-signed unchanged, are accepted.
	tok, err := km.Sign(context.Background(), e.claims, token.TypeAccess)
	brokertest.Must(t, err)
	if e.refused(t, tok) {
		t.Fatal("a re-signed genuine token is refused: the cases above prove nothing")
	}
}

// TestASJWT11_JWKSHygiene: the published key set has no private members, unique
// kids, and use/alg on every key.
func TestASJWT11_JWKSHygiene(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	_, err := e.KeyManagers[e.Active.Load()].Rotate(context.Background()) // a next key too
	brokertest.Must(t, err)
	brokertest.Must(t, e.KeyManagers[e.Active.Load()].Refresh(context.Background()))
	res := e.Get(brokertest.NewClient(e.SigninEnv), "/oauth2/jwks")
	var set struct{ Keys []map[string]any }
	brokertest.Must(t, json.NewDecoder(res.Body).Decode(&set))
	res.Body.Close()
	if len(set.Keys) != 4 {
		t.Fatalf("want the active and the next key of ES256 and of RS256, got %d", len(set.Keys))
	}
	seen := map[string]bool{}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("key %v publishes %q", k["kid"], private)
			}
		}
		kid, _ := k["kid"].(string)
		if kid == "" || seen[kid] {
			t.Errorf("missing or duplicate kid %q", kid)
		}
		seen[kid] = true
		if k["use"] != "sig" || k["alg"] == nil {
			t.Errorf("key %s: use=%v alg=%v", kid, k["use"], k["alg"])
		}
	}
}

// TestASJWT12_OversizedTokens: absurd tokens are refused before parsing; a token
// larger than the header limit never reaches a handler.
func TestASJWT12_OversizedTokens(t *testing.T) {
	t.Parallel()
	e := newJWTEnv(t)
	for name, tok := range map[string]string{
		"8 KB of dots":   strings.Repeat(".", 8<<10),
		"9 KB JWT shape": strings.Repeat("a", 3<<10) + "." + strings.Repeat("b", 3<<10) + "." + strings.Repeat("c", 3<<10),
	} {
		if !e.refused(t, tok) {
			t.Errorf("%s accepted", name)
		}
	}
	// 1 M dots: refused by the server's header limit or the handler, never served.
	res := e.UserinfoCall(http.MethodGet, "/oauth2/userinfo", "Bearer "+strings.Repeat(".", 1<<20))
	if res.StatusCode != 431 && res.StatusCode != 400 && res.StatusCode != 401 {
		t.Errorf("1 M dots: %d", res.StatusCode)
	}
}
