package oidc

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// appA is another app of the organisation, whose ID tokens the admin
// allowed for exchange; appB is one the admin did not list.
const (
	appA = "app-a"
	appB = "app-b"
)

// exchangeToken mints an ID token for appA with the issuer's current key,
// as the organisation's IdP would for its app, with claims changed by mut
// (a nil value deletes the claim).
func (e *env) exchangeToken(mut map[string]any) string {
	c := e.iss.Claims("")
	c["aud"] = appA
	for k, v := range mut {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return providertest.SignJWT(e.iss.Keys()[0], true, nil, c)
}

// exchange presents tok for exchange with appA allowed, as changed by mut.
func (e *env) exchange(tok string, mut ...func(*providers.TokenParams)) (providers.Identity, error) {
	tp := providers.TokenParams{Token: tok, Audiences: []string{appA}}
	for _, m := range mut {
		m(&tp)
	}
	return e.p.VerifyToken(context.Background(), tp)
}

func audiences(a ...string) func(*providers.TokenParams) {
	return func(tp *providers.TokenParams) { tp.Audiences = a }
}

// TestExchangeAudience: an ID token is exchanged only if it was issued to an
// app the admin listed (OIDC Core §3.1.3.7 steps 3–5 with the admin's list
// in place of our client ID): an ID token for another app of the
// organisation, or for Gatehouse's own sign-in, must not become a token.
func TestExchangeAudience(t *testing.T) {
	e := newEnv(t, keys()[:1])
	for name, tc := range map[string]struct {
		claims    map[string]any
		audiences []string
		accept    bool
	}{
		"listed audience":                       {claims: nil, audiences: []string{appA}, accept: true},
		"one of several listed":                 {claims: nil, audiences: []string{appB, appA}, accept: true},
		"audience not listed":                   {claims: map[string]any{"aud": appB}, audiences: []string{appA}},
		"own client ID not listed":              {claims: map[string]any{"aud": "gatehouse"}, audiences: []string{appA}},
		"own client ID listed":                  {claims: map[string]any{"aud": "gatehouse"}, audiences: []string{"gatehouse"}, accept: true},
		"nothing listed":                        {claims: nil, audiences: nil},
		"aud missing":                           {claims: map[string]any{"aud": nil}, audiences: []string{appA}},
		"several audiences, no azp":             {claims: map[string]any{"aud": []string{appA, appB}}, audiences: []string{appA}},
		"several audiences, listed azp":         {claims: map[string]any{"aud": []string{appA, appB}, "azp": appA}, audiences: []string{appA}, accept: true},
		"several audiences, azp not listed":     {claims: map[string]any{"aud": []string{appA, appB}, "azp": appB}, audiences: []string{appA}},
		"single audience, azp not listed":       {claims: map[string]any{"azp": appB}, audiences: []string{appA}},
		"single audience, our client ID as azp": {claims: map[string]any{"azp": "gatehouse"}, audiences: []string{appA}},
		"azp not a string":                      {claims: map[string]any{"azp": []string{appA}}, audiences: []string{appA}},
	} {
		t.Run(name, func(t *testing.T) {
			id, err := e.exchange(e.exchangeToken(tc.claims), audiences(tc.audiences...))
			if tc.accept {
				if err != nil || id.Subject != "alice" || id.ProviderID != "op-a" {
					t.Fatalf("refused: %+v %v", id, err)
				}
				return
			}
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
	t.Run("no audience listed: refused before any fetch", func(t *testing.T) {
		e := newEnv(t, keys()[:1])
		id, err := e.exchange(e.exchangeToken(nil), audiences())
		refused(t, id, err, providers.ErrInvalidResponse)
		if n := e.iss.JWKSHits.Load(); n != 0 {
			t.Fatalf("%d JWKS fetches for a provider that accepts nothing", n)
		}
	})
	t.Run("sign-in still needs our client ID", func(t *testing.T) {
		// The exchange verifier must not loosen the login one.
		e.iss.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"aud": appA} })
		defer e.iss.Set(func(k *providertest.Knobs) { k.Claims = nil })
		id, err := e.login(t)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
}

// TestASTX01_ForgedIDToken: an ID token that the provider's configured
// algorithms and discovered JWKS do not verify is refused (RFC 8725 §3.1,
// §3.10: keys named in the token header are never used).
func TestASTX01_ForgedIDToken(t *testing.T) {
	e := newEnv(t, keys()[:1])
	k := e.iss.Keys()[0]
	attacker := providertest.NewRSAKey("k1") // same kid as the OP's key
	var attackerHits atomic.Int64
	attackerSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attackerHits.Add(1)
		http.NotFound(w, r)
	}))
	defer attackerSrv.Close()

	der, _ := x509.MarshalPKIXPublicKey(k.Signer.Public())
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	resp, err := http.Get(e.iss.URL() + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []json.RawMessage }
	_ = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	jwk := []byte(set.Keys[0])

	claims := func() map[string]any {
		c := e.iss.Claims("")
		c["aud"] = appA
		return c
	}
	for name, tok := range map[string]string{
		"bad signature": func() string {
			tok := e.exchangeToken(nil)
			i := strings.LastIndexByte(tok, '.') + 5
			flip := byte('A')
			if tok[i] == 'A' {
				flip = 'B'
			}
			return tok[:i] + string(flip) + tok[i+1:]
		}(),
		"alg none":                       providertest.SignNone(claims()),
		"HS256 keyed with the PEM key":   providertest.SignHS256(pemKey, "k1", claims()),
		"HS256 keyed with the JWK":       providertest.SignHS256(jwk, "k1", claims()),
		"HS256 keyed with the DER key":   providertest.SignHS256(der, "k1", claims()),
		"attacker key, OP's kid":         providertest.SignJWT(attacker, true, nil, claims()),
		"attacker key in jwk header":     providertest.SignJWT(attacker, false, map[string]any{"jwk": json.RawMessage(publicJWK(t, attacker))}, claims()),
		"attacker jku and x5u":           providertest.SignJWT(attacker, true, map[string]any{"jku": attackerSrv.URL + "/jwks", "x5u": attackerSrv.URL + "/cert"}, claims()),
		"AS-TX-02 another issuer's iss":  e.exchangeToken(map[string]any{"iss": "https://other-op.example"}),
		"AS-TX-02 iss with extra slash":  e.exchangeToken(map[string]any{"iss": e.iss.URL() + "/"}),
		"sub missing":                    e.exchangeToken(map[string]any{"sub": nil}),
		"sub empty":                      e.exchangeToken(map[string]any{"sub": ""}),
		"not a JWT":                      "PHNhbWw6QXNzZXJ0aW9uLz4",
		"JSON serialization of the JWS":  jsonSerialized(t, e.exchangeToken(nil)),
		"oversized":                      e.exchangeToken(map[string]any{"pad": strings.Repeat("x", maxIDTokenLen)}),
		"valid token with trailing junk": e.exchangeToken(nil) + ".x",
	} {
		t.Run(name, func(t *testing.T) {
			id, err := e.exchange(tok, func(tp *providers.TokenParams) { tp.OneTime = true })
			refused(t, id, err, providers.ErrInvalidResponse)
			if len(id.ReplayKeys) != 0 {
				t.Fatalf("replay keys for a refused token: %v", id.ReplayKeys)
			}
		})
	}
	if n := attackerHits.Load(); n != 0 {
		t.Fatalf("the attacker's key URL was fetched %d times", n)
	}
	t.Run("positive control", func(t *testing.T) {
		if _, err := e.exchange(e.exchangeToken(nil)); err != nil {
			t.Fatal(err)
		}
	})
}

func publicJWK(t *testing.T, k *providertest.SigningKey) []byte {
	t.Helper()
	b, err := jose.JSONWebKey{Key: k.Signer.Public(), KeyID: k.KID, Algorithm: string(k.Alg)}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonSerialized turns a compact JWS into its flattened JSON serialization
// (RFC 7515 §7.2.2), which go-jose's ParseSigned also reads.
func jsonSerialized(t *testing.T, compact string) string {
	t.Helper()
	p := strings.Split(compact, ".")
	b, err := json.Marshal(map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestASTX04_ExpiredOrNotYetValid: exp, iat and nbf are checked with the
// configured skew, as at a sign-in (OIDC Core §3.1.3.7 steps 9–10).
func TestASTX04_ExpiredOrNotYetValid(t *testing.T) {
	e := newEnv(t, keys()[:1])
	for name, c := range map[string]map[string]any{
		"expired beyond skew": {"exp": t0.Add(-DefaultClockSkew - time.Second).Unix()},
		"exp missing":         {"exp": nil},
		"iat missing":         {"iat": nil},
		"iat in the future":   {"iat": t0.Add(DefaultClockSkew + time.Minute).Unix()},
		"nbf in the future":   {"nbf": t0.Add(DefaultClockSkew + time.Minute).Unix()},
	} {
		t.Run(name, func(t *testing.T) {
			id, err := e.exchange(e.exchangeToken(c), func(tp *providers.TokenParams) { tp.OneTime = true })
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
	t.Run("expired within skew is accepted", func(t *testing.T) {
		if _, err := e.exchange(e.exchangeToken(map[string]any{"exp": t0.Add(-DefaultClockSkew + time.Second).Unix()})); err != nil {
			t.Fatal(err)
		}
	})
}

// TestASTX01_RotatedOutKey: a token signed by a key the OP removed from its
// JWKS is refused once the key set has been refetched: after JWKSMaxAge, or
// earlier when a token names a kid the cache does not know (at most one
// fetch per JWKSCooldown, so forged kids cannot make every request fetch).
// Until then a key removed upstream still verifies: the cache is the JWKS as
// last fetched (OIDC Core §10.1.1).
func TestASTX01_RotatedOutKey(t *testing.T) {
	old, next := keys()[0], keys()[1]
	t.Run("after a token with the new kid made it refetch", func(t *testing.T) {
		e := newEnv(t, []*providertest.SigningKey{old})
		oldTok := e.exchangeToken(nil)
		if _, err := e.exchange(oldTok); err != nil { // warms the cache
			t.Fatal(err)
		}
		e.iss.SetKeys(next)
		e.clock.Advance(DefaultJWKSCooldown + time.Second)
		if _, err := e.exchange(e.exchangeToken(nil)); err != nil {
			t.Fatalf("token with the new key: %v", err)
		}
		id, err := e.exchange(oldTok)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
	t.Run("after JWKSMaxAge", func(t *testing.T) {
		e := newEnv(t, []*providertest.SigningKey{old})
		oldTok := e.exchangeToken(map[string]any{"exp": t0.Add(2 * DefaultJWKSMaxAge).Unix()})
		if _, err := e.exchange(oldTok); err != nil {
			t.Fatal(err)
		}
		e.iss.SetKeys(next)
		e.clock.Advance(DefaultJWKSMaxAge + time.Second)
		id, err := e.exchange(oldTok)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
	t.Run("forged kids: at most one fetch per cooldown", func(t *testing.T) {
		e := newEnv(t, []*providertest.SigningKey{old})
		if _, err := e.exchange(e.exchangeToken(nil)); err != nil {
			t.Fatal(err)
		}
		e.iss.SetKeys(next)
		before := e.iss.JWKSHits.Load()
		e.clock.Advance(DefaultJWKSCooldown + time.Second)
		gone := providertest.NewRSAKey("gone")
		for range 20 {
			c := e.iss.Claims("")
			c["aud"] = appA
			id, err := e.exchange(providertest.SignJWT(gone, true, nil, c))
			refused(t, id, err, providers.ErrInvalidResponse)
		}
		if got := e.iss.JWKSHits.Load() - before; got != 1 {
			t.Fatalf("%d JWKS fetches for 20 tokens with an unknown kid, want 1", got)
		}
	})
}

// TestASTX04_OneTime: with OneTime the Identity carries one replay key for
// the token, the same for the same token however it is re-encoded, under a
// namespace of its own, expiring when the token is no longer accepted;
// without OneTime there is none (the token is then bounded by its exp).
func TestASTX04_OneTime(t *testing.T) {
	e := newEnv(t, keys()[:1])
	oneTime := func(tp *providers.TokenParams) { tp.OneTime = true }
	exp := t0.Add(5 * time.Minute)
	keyOf := func(t *testing.T, tok string) providers.ReplayKey {
		t.Helper()
		id, err := e.exchange(tok, oneTime)
		if err != nil {
			t.Fatal(err)
		}
		if len(id.ReplayKeys) != 1 {
			t.Fatalf("replay keys %v, want one", id.ReplayKeys)
		}
		return id.ReplayKeys[0]
	}

	t.Run("jti", func(t *testing.T) {
		tok := e.exchangeToken(map[string]any{"jti": "id-1", "exp": exp.Unix()})
		k := keyOf(t, tok)
		want := providers.ReplayKey{Key: "oidc:op-a:jti:id-1", ExpiresAt: exp.Add(DefaultClockSkew + time.Second)}
		if k.Key != want.Key || !k.ExpiresAt.Equal(want.ExpiresAt) {
			t.Fatalf("key %+v, want %+v", k, want)
		}
		if k2 := keyOf(t, tok); k2 != k {
			t.Fatalf("same token, another key: %+v", k2)
		}
		if k3 := keyOf(t, e.exchangeToken(map[string]any{"jti": "id-2"})); k3.Key == k.Key {
			t.Fatal("another jti, same key")
		}
	})
	t.Run("no jti: hash of the signed payload", func(t *testing.T) {
		tok := e.exchangeToken(nil)
		k := keyOf(t, tok)
		if !strings.HasPrefix(k.Key, "oidc:op-a:sha256:") || len(k.Key) != len("oidc:op-a:sha256:")+64 {
			t.Fatalf("key %q", k.Key)
		}
		if !k.ExpiresAt.Equal(exp.Add(DefaultClockSkew + time.Second)) {
			t.Fatalf("expires %v", k.ExpiresAt)
		}
		if k2 := keyOf(t, tok); k2 != k {
			t.Fatalf("same token, another key: %+v", k2)
		}
		// Another encoding of the same signature (non-zero padding bits in
		// its last base64url character) must not be another token.
		if re := reencodeSignature(tok); re != tok {
			id, err := e.exchange(re, oneTime)
			if err == nil && (len(id.ReplayKeys) != 1 || id.ReplayKeys[0] != k) {
				t.Fatalf("re-encoded token: keys %v, want %v", id.ReplayKeys, k)
			}
		}
		if k3 := keyOf(t, e.exchangeToken(map[string]any{"iat": t0.Add(-time.Second).Unix()})); k3.Key == k.Key {
			t.Fatal("another token, same key")
		}
	})
	t.Run("long or unprintable jti is hashed", func(t *testing.T) {
		for _, jti := range []string{strings.Repeat("j", 4096), "a\x00b"} {
			k := keyOf(t, e.exchangeToken(map[string]any{"jti": jti}))
			if !strings.HasPrefix(k.Key, "oidc:op-a:jti-sha256:") || len(k.Key) > 100 {
				t.Fatalf("key %q", k.Key)
			}
		}
	})
	t.Run("never a SAML or sign-in flow key", func(t *testing.T) {
		for _, tok := range []string{e.exchangeToken(map[string]any{"jti": "saml:op-a:_a1"}), e.exchangeToken(nil)} {
			k := keyOf(t, tok)
			for _, other := range []string{"saml:", "flow:", "consent:", "client_assertion:"} {
				if strings.HasPrefix(k.Key, other) {
					t.Fatalf("key %q in the %q namespace", k.Key, other)
				}
			}
		}
	})
	t.Run("without OneTime no key", func(t *testing.T) {
		id, err := e.exchange(e.exchangeToken(map[string]any{"jti": "id-3"}))
		if err != nil {
			t.Fatal(err)
		}
		if len(id.ReplayKeys) != 0 {
			t.Fatalf("replay keys %v", id.ReplayKeys)
		}
	})
}

// reencodeSignature sets the unused low bits of the last base64url character
// of tok's signature: the same signature bytes, another string.
func reencodeSignature(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.LastIndexByte(tok, '.')
	sig := tok[i+1:]
	unused := map[int]int{2: 4, 3: 2}[len(sig)%4] // bits of padding in the last character
	if unused == 0 {
		return tok
	}
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	return tok[:len(tok)-1] + string(alphabet[last|(1<<unused-1)])
}
