package exchange_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

var benchSettings = map[string]string{"GATEHOUSE_LOG_LEVEL": "warn", "GATEHOUSE_OAUTH_RATE_PER_CLIENT": "0", "GATEHOUSE_OAUTH_RATE_PER_IP": "0"}

// BenchmarkExchangeIDToken: one exchange of an upstream RS256 ID token (the
// in-process issuer's, one-time use off) of a linked user, the client
// authenticated by client_secret_basic, through the handler and middleware.
// Its cost next to BenchmarkBareCrypto_RS256VerifyES256Sign, measured in the
// same run, is the overhead over the cryptography (issue 10: within about 2×).
func BenchmarkExchangeIDToken(b *testing.B) {
	fx := newFixture(b, fixtureOpts{settings: benchSettings, checkEvery: upstream.DefaultCheckEvery})
	body := url.Values{"grant_type": {registry.GrantTokenExchange}, "subject_token": {fx.idToken(nil)},
		"subject_token_type": {typeID}, "scope": {"read"}}.Encode()
	fx.ok(fx.exchange("cli", fx.idToken(nil), typeID)) // JWKS and discovery fetched, provider built
	// The fixed clock moves on past the registry's last listing, as real time
	// would: within upstream.DefaultCheckEvery it is not listed again.
	fx.Clk.Add(time.Second)
	secret := fx.secrets["cli"]
	srv := fx.Srv()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth("cli", secret)
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkBareCrypto_RS256VerifyES256Sign: the cryptography one exchange
// cannot avoid, with go-jose: verifying an RS256 JWS and signing an ES256 one.
func BenchmarkBareCrypto_RS256VerifyES256Sign(b *testing.B) {
	rk := providertest.NewRSAKey("k1")
	idt := providertest.SignJWT(rk, true, nil, map[string]any{"iss": "https://idp.test", "sub": "alice-sub", "aud": cliApp,
		"exp": 4102444800, "iat": 1700000000})
	pub := rk.Signer.Public()
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ek}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"iss":"https://gatehouse.test","sub":"alice","aud":"https://api1.test","exp":4102444800,"iat":1700000000,` +
		`"jti":"0123456789abcdefghijkl","client_id":"cli","scope":"read","gid":"0123456789abcdefghijkl","idp":"corp"}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			jws, err := jose.ParseSignedCompact(idt, []jose.SignatureAlgorithm{jose.RS256})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := jws.Verify(pub); err != nil {
				b.Fatal(err)
			}
			obj, err := signer.Sign(payload)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := obj.CompactSerialize(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
