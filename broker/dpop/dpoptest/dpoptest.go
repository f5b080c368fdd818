// Package dpoptest makes DPoP proofs (RFC 9449 §4.2) for tests: well-formed
// ones from a real key pair, and forged ones with any header and claims.
package dpoptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/broker/dpop"
)

// Key is a client's DPoP key pair (ES256).
type Key struct {
	Private *ecdsa.PrivateKey
	Public  jose.JSONWebKey
	JKT     string // RFC 7638 thumbprint, the cnf.jkt of tokens bound to it
}

// NewKey makes a fresh P-256 key pair.
func NewKey(tb testing.TB) *Key {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey}
	jkt, err := dpop.Thumbprint(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return &Key{Private: priv, Public: pub, JKT: jkt}
}

// Option changes a proof's claims or header before it is signed.
type Option func(header, claims map[string]any)

// WithNonce adds a server nonce (RFC 9449 §8).
func WithNonce(n string) Option { return func(_, c map[string]any) { c["nonce"] = n } }

// WithAccessToken adds the ath of token (RFC 9449 §4.2, §7).
func WithAccessToken(token string) Option {
	return func(_, c map[string]any) { c["ath"] = dpop.AccessTokenHash(token) }
}

// WithJTI sets the jti, to replay one.
func WithJTI(id string) Option { return func(_, c map[string]any) { c["jti"] = id } }

// With sets any claim; a nil value removes it.
func With(name string, v any) Option {
	return func(_, c map[string]any) {
		if v == nil {
			delete(c, name)
			return
		}
		c[name] = v
	}
}

// WithHeader sets any header parameter; a nil value removes it.
func WithHeader(name string, v any) Option {
	return func(h, _ map[string]any) {
		if v == nil {
			delete(h, name)
			return
		}
		h[name] = v
	}
}

// Proof is a proof for method and url issued at iat, signed by k, with a
// fresh jti.
func (k *Key) Proof(tb testing.TB, method, url string, iat time.Time, opts ...Option) string {
	tb.Helper()
	pub, err := json.Marshal(k.Public)
	if err != nil {
		tb.Fatal(err)
	}
	header := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": json.RawMessage(pub)}
	claims := map[string]any{"jti": rand.Text(), "htm": method, "htu": url, "iat": iat.Unix()}
	for _, o := range opts {
		o(header, claims)
	}
	return k.Sign(tb, header, claims)
}

// Sign is the JWS compact serialization of claims under header, signed with
// ES256 by k whatever header says, so a test can forge any header.
func (k *Key) Sign(tb testing.TB, header, claims map[string]any) string {
	tb.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	input := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.Private, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	sig := make([]byte, 64) // RFC 7518 §3.4: R and S as 32-byte big-endian
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
