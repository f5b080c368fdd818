package keys

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// TestES256FastPathInterop: tokens from the ES256 fast path carry the header go-jose
// writes, byte for byte, and verify with go-jose, go-oidc and Verify — including
// tokens whose R or S has leading zero bytes, which RFC 7518 §3.4 keeps as padding.
func TestES256FastPathInterop(t *testing.T) {
	ctx := context.Background()
	m := newEnv(t).started(t, ES256)
	s, err := m.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.es256 == nil {
		t.Fatal("an ES256 Signer does not take the fast path")
	}
	priv := s.es256
	pub := m.snap.Load().active.public

	type claims struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Iat int64  `json:"iat"`
		N   int    `json:"n"`
	}
	const iss, aud = "https://gatehouse.test", "https://api.test"
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	oidcVerifier := oidc.NewVerifier(iss, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{pub}},
		&oidc.Config{ClientID: aud, SupportedSigningAlgs: []string{ES256}, Now: func() time.Time { return now }})

	var zeroR, zeroS bool
	for i := 0; i < 200 || !zeroR || !zeroS; i++ {
		if i == 20_000 {
			t.Fatal("no signature with a leading zero byte in R and in S after 20,000 tokens")
		}
		typ := [...]string{"at+jwt", "JWT"}[i%2]
		cl := claims{Iss: iss, Sub: strings.Repeat("u", i%7), Aud: aud, Exp: now.Add(time.Hour).Unix(), Iat: now.Unix(), N: i}
		tok, err := s.Sign(cl, typ)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok, ".")
		sig, err := b64.DecodeString(parts[2])
		if err != nil || len(sig) != es256Size {
			t.Fatalf("signature is %d bytes (%v), want %d", len(sig), err, es256Size)
		}
		zeroR = zeroR || sig[0] == 0
		zeroS = zeroS || sig[es256Size/2] == 0

		// go-jose: same protected header as its own signer writes, same payload.
		if i < 2 {
			js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: s.kid}},
				(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := js.Sign([]byte("{}"))
			if err != nil {
				t.Fatal(err)
			}
			refTok, _ := ref.CompactSerialize()
			if want, _, _ := strings.Cut(refTok, "."); parts[0] != want {
				t.Errorf("typ %s: header %s, go-jose writes %s", typ, parts[0], want)
			}
		}
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("go-jose parse: %v", err)
		}
		payload, err := jws.Verify(pub)
		if err != nil {
			t.Fatalf("go-jose verify token %d: %v", i, err)
		}
		if want, _ := json.Marshal(cl); !bytes.Equal(payload, want) {
			t.Errorf("payload %s, want %s", payload, want)
		}
		// go-oidc, as a relying party would.
		if _, err := oidcVerifier.Verify(ctx, tok); err != nil {
			t.Fatalf("go-oidc verify token %d: %v", i, err)
		}
		// Our own Verify, with the exact typ.
		var got claims
		if err := m.Verify(ctx, tok, typ, &got); err != nil || got != cl {
			t.Fatalf("Verify token %d = %+v, %v", i, got, err)
		}
	}
}

// TestES256FastPathOnlyForES256: the other algorithms still sign through go-jose.
func TestES256FastPathOnlyForES256(t *testing.T) {
	for _, alg := range []string{RS256, EdDSA} {
		s, err := newEnv(t).started(t, alg).Signer(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.es256 != nil {
			t.Errorf("%s Signer has an ES256 key", alg)
		}
	}
}

type appendingClaims struct{ Sub string }

func (c appendingClaims) AppendJSON(b []byte) []byte {
	return append(b, `{"sub":"`+c.Sub+`","via":"AppendJSON"}`...)
}

// Claims that encode themselves are signed as they encode, for every algorithm.
func TestSignUsesAppendJSON(t *testing.T) {
	for _, alg := range []string{ES256, RS256, EdDSA} {
		m := newEnv(t).started(t, alg)
		tok, err := m.Sign(context.Background(), appendingClaims{Sub: "alice"}, "at+jwt")
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		if err := m.Verify(context.Background(), tok, "at+jwt", &got); err != nil || got["sub"] != "alice" || got["via"] != "AppendJSON" {
			t.Errorf("%s: payload %v, %v", alg, got, err)
		}
	}
}
