package dpop_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/broker/dpop"
	"github.com/gatehouse/gatehouse/broker/dpop/dpoptest"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

const tokenURL = "https://id.example.org/oauth2/token"

func check() dpop.Check {
	return dpop.Check{Method: http.MethodPost, URL: tokenURL, Now: now, Window: time.Minute}
}

func TestParseAcceptsAWellFormedProof(t *testing.T) {
	k := dpoptest.NewKey(t)
	p, err := dpop.Parse(k.Proof(t, "POST", tokenURL, now.Add(-30*time.Second), dpoptest.WithJTI("j1"), dpoptest.WithNonce("n1")), check())
	if err != nil {
		t.Fatal(err)
	}
	if p.JKT != k.JKT || p.ID != "j1" || p.Nonce != "n1" || !p.IssuedAt.Equal(now.Add(-30*time.Second)) {
		t.Fatalf("proof = %+v, key jkt %s", p, k.JKT)
	}
}

// RFC 7638 §3.1's example key has this thumbprint.
func TestThumbprintRFC7638Example(t *testing.T) {
	const jwk = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	var k jose.JSONWebKey
	if err := json.Unmarshal([]byte(jwk), &k); err != nil {
		t.Fatal(err)
	}
	got, err := dpop.Thumbprint(k)
	if err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint = %q, %v", got, err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := dpop.Thumbprint(jose.JSONWebKey{Key: priv}); err == nil {
		t.Fatal("thumbprint of a private key accepted")
	}
}

func TestParseAcceptsAthAndOtherAlgs(t *testing.T) {
	k := dpoptest.NewKey(t)
	c := check()
	c.AccessToken = "the-token"
	if _, err := dpop.Parse(k.Proof(t, "POST", tokenURL, now, dpoptest.WithAccessToken("the-token")), c); err != nil {
		t.Fatal(err)
	}
	// EdDSA and RS256 through go-jose's own signer.
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaPriv, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		alg jose.SignatureAlgorithm
		key any
	}{{jose.EdDSA, edPriv}, {jose.RS256, rsaPriv}, {jose.PS256, rsaPriv}} {
		t.Run(string(tc.alg), func(t *testing.T) {
			proof := joseProof(t, tc.alg, tc.key, map[string]any{"jti": "x", "htm": "POST", "htu": tokenURL, "iat": now.Unix()})
			if _, err := dpop.Parse(proof, check()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func joseProof(t *testing.T, alg jose.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestParseRefusesForgedProofs: every check of RFC 9449 §4.3, each refused with
// ErrInvalidProof and a reason that does not echo the proof.
func TestParseRefusesForgedProofs(t *testing.T) {
	k := dpoptest.NewKey(t)
	other := dpoptest.NewKey(t)
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: k.Private})
	hsKey := []byte("a shared secret that is long enough for HS256!!")
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: hsKey}, (&jose.SignerOptions{}).WithType("dpop+jwt"))
	hsJWS, _ := hs.Sign([]byte(`{"jti":"x","htm":"POST","htu":"` + tokenURL + `","iat":` + itoa(now.Unix()) + `}`))
	hsProof, _ := hsJWS.CompactSerialize()
	good := k.Proof(t, "POST", tokenURL, now)
	parts := strings.Split(good, ".")
	noneProof := b64(`{"typ":"dpop+jwt","alg":"none","jwk":`+string(mustJSON(t, k.Public))+`}`) + "." + parts[1] + "."
	weakRSA, _ := rsa.GenerateKey(rand.Reader, 1024)

	cases := []struct {
		name   string
		proof  string
		check  func(*dpop.Check)
		reason string
	}{
		{"empty", "", nil, "empty"},
		{"not compact", "a.b", nil, "compact"},
		{"json serialization", `{"payload":"e30","signatures":[]}`, nil, "compact"},
		{"wrong typ", k.Proof(t, "POST", tokenURL, now, dpoptest.WithHeader("typ", "JWT")), nil, "typ"},
		{"no typ", k.Proof(t, "POST", tokenURL, now, dpoptest.WithHeader("typ", nil)), nil, "typ"},
		{"alg none", noneProof, nil, "alg"},
		{"alg HS256", hsProof, nil, "alg"},
		{"alg not in the caller's list", good, func(c *dpop.Check) { c.Algs = []string{"RS256"} }, "alg"},
		{"caller lists only HS256", hsProof, func(c *dpop.Check) { c.Algs = []string{"HS256", "none"} }, "algorithm"},
		{"no jwk", k.Proof(t, "POST", tokenURL, now, dpoptest.WithHeader("jwk", nil)), nil, "jwk"},
		{"private jwk", k.Proof(t, "POST", tokenURL, now, dpoptest.WithHeader("jwk", json.RawMessage(privJWK))), nil, "jwk"},
		{"jwk of another key", k.Proof(t, "POST", tokenURL, now, dpoptest.WithHeader("jwk", other.Public)), nil, "signature"},
		{"bad signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", 86), nil, "signature"},
		{"tampered claims", parts[0] + "." + b64(`{"jti":"y","htm":"POST","htu":"`+tokenURL+`","iat":`+itoa(now.Unix())+`}`) + "." + parts[2], nil, "signature"},
		{"RSA 1024", joseProof(t, jose.RS256, weakRSA, map[string]any{"jti": "x", "htm": "POST", "htu": tokenURL, "iat": now.Unix()}), nil, "RSA"},
		{"no jti", k.Proof(t, "POST", tokenURL, now, dpoptest.With("jti", nil)), nil, "jti"},
		{"no htm", k.Proof(t, "POST", tokenURL, now, dpoptest.With("htm", nil)), nil, "required"},
		{"no iat", k.Proof(t, "POST", tokenURL, now, dpoptest.With("iat", nil)), nil, "required"},
		{"iat a string", k.Proof(t, "POST", tokenURL, now, dpoptest.With("iat", "soon")), nil, "JSON"},
		{"wrong htm", k.Proof(t, "GET", tokenURL, now), nil, "htm"},
		{"htm lower case", k.Proof(t, "post", tokenURL, now), nil, "htm"},
		{"wrong htu path", k.Proof(t, "POST", "https://id.example.org/oauth2/userinfo", now), nil, "htu"},
		{"wrong htu host", k.Proof(t, "POST", "https://evil.example/oauth2/token", now), nil, "htu"},
		{"htu http for https", k.Proof(t, "POST", "http://id.example.org/oauth2/token", now), nil, "htu"},
		{"htu relative", k.Proof(t, "POST", "/oauth2/token", now), nil, "htu"},
		{"stale iat", k.Proof(t, "POST", tokenURL, now.Add(-61*time.Second)), nil, "iat"},
		{"future iat", k.Proof(t, "POST", tokenURL, now.Add(61*time.Second)), nil, "iat"},
		{"stale under the default window", k.Proof(t, "POST", tokenURL, now.Add(-dpop.DefaultWindow-time.Second)), func(c *dpop.Check) { c.Window = 0 }, "iat"},
		{"ath missing", good, func(c *dpop.Check) { c.AccessToken = "tok" }, "ath"},
		{"ath of another token", k.Proof(t, "POST", tokenURL, now, dpoptest.WithAccessToken("other")), func(c *dpop.Check) { c.AccessToken = "tok" }, "ath"},
		{"empty nonce", k.Proof(t, "POST", tokenURL, now, dpoptest.WithNonce("")), nil, "nonce"},
		{"nonce a number", k.Proof(t, "POST", tokenURL, now, dpoptest.With("nonce", 7)), nil, "nonce"},
		{"too long", strings.Repeat("a", 9000), nil, "long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := check()
			if tc.check != nil {
				tc.check(&c)
			}
			p, err := dpop.Parse(tc.proof, c)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if p != nil || !errors.Is(err, dpop.ErrInvalidProof) {
				t.Fatalf("p=%v err=%v, want ErrInvalidProof", p, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("err = %q, want it to say %q", err, tc.reason)
			}
			if len(tc.proof) > 20 && strings.Contains(err.Error(), tc.proof[:20]) {
				t.Errorf("err echoes the proof: %q", err)
			}
		})
	}
}

func TestSameURL(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"https://id.example.org/oauth2/token", "https://id.example.org/oauth2/token", true},
		{"HTTPS://ID.Example.ORG/oauth2/token", "https://id.example.org/oauth2/token", true},
		{"https://id.example.org:443/oauth2/token", "https://id.example.org/oauth2/token", true},
		{"http://id.example.org:80/x", "http://id.example.org/x", true},
		{"https://id.example.org/oauth2/token?a=b#frag", "https://id.example.org/oauth2/token", true},
		{"https://id.example.org/oauth2/%74oken", "https://id.example.org/oauth2/token", true},
		{"https://id.example.org", "https://id.example.org/", true},
		{"https://[::1]:8443/t", "https://[::1]:8443/t", true},
		{"https://id.example.org:8443/oauth2/token", "https://id.example.org/oauth2/token", false},
		{"https://id.example.org/oauth2/Token", "https://id.example.org/oauth2/token", false},
		{"https://id.example.org/oauth2/token/", "https://id.example.org/oauth2/token", false},
		{"https://user@id.example.org/oauth2/token", "https://id.example.org/oauth2/token", false},
		{"ftp://id.example.org/oauth2/token", "ftp://id.example.org/oauth2/token", false},
	} {
		if got := dpop.SameURL(tc.a, tc.b); got != tc.same {
			t.Errorf("SameURL(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestFromHeader(t *testing.T) {
	h := http.Header{}
	if _, ok, err := dpop.FromHeader(h); ok || err != nil {
		t.Fatal("absent header reported present")
	}
	h.Add("DPoP", "a")
	if v, ok, err := dpop.FromHeader(h); !ok || err != nil || v != "a" {
		t.Fatalf("one header: %q %v %v", v, ok, err)
	}
	h.Add("DPoP", "b")
	if _, ok, err := dpop.FromHeader(h); !ok || !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("two headers: %v %v, want refusal (RFC 9449 §4.3 step 1)", ok, err)
	}
}

func FuzzParse(f *testing.F) {
	k := dpoptest.NewKey(f)
	f.Add(k.Proof(f, "POST", tokenURL, now))
	f.Add(k.Proof(f, "POST", tokenURL, now, dpoptest.WithNonce("n"), dpoptest.WithAccessToken("t")))
	f.Add("e30.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, proof string) {
		c := check()
		c.AccessToken = "t"
		p, err := dpop.Parse(proof, c)
		if err == nil && (p == nil || p.JKT == "" || p.ID == "") {
			t.Fatalf("accepted without a key or jti: %+v", p)
		}
		if err != nil && !errors.Is(err, dpop.ErrInvalidProof) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
