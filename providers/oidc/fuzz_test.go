package oidc

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

func FuzzCallbackParams(f *testing.F) {
	for _, s := range []string{
		"code=abc&state=xyz&iss=https%3A%2F%2Fop.example",
		"error=access_denied&error_description=no%00way&state=s",
		"state=a&state=b&code=c",
		"code=&state=",
		"error=%22bad&state=s",
		"iss=&iss=&code=c&state=s",
		"%zz",
		"error_description=%FF%FE&error=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest(http.MethodGet, "https://gatehouse.test/cb", nil)
		r.URL.RawQuery = raw
		v, err := callbackValues(r)
		if err != nil {
			return
		}
		cb, err := parseCallback(v)
		if err != nil {
			return
		}
		if cb.Error == "" && (cb.Code == "" || cb.State == "") {
			t.Fatalf("accepted callback without code/state: %+v", cb)
		}
		if len(cb.State) > maxStateLen || len(cb.Code) > maxCodeLen || len(cb.ErrorDescription) > maxErrorDescLen {
			t.Fatalf("limits exceeded: %+v", cb)
		}
		if !utf8.ValidString(cb.ErrorDescription) || !validErrorCode(cb.Error) {
			t.Fatalf("unsafe error text: %q %q", cb.Error, cb.ErrorDescription)
		}
	})
}

// FuzzIDTokenExchange feeds arbitrary strings to VerifyToken, the check of an
// upstream ID token presented for exchange (RFC 8693 subject_token_type
// id_token; AS-TX-02, AS-TX-04): no panic; a refusal wraps ErrInvalidResponse
// (invalid_grant) and carries no identity; only the seed's good token is
// accepted, as alice of op-a with its one replay key — not the seeds for
// another app, signed with alg none, with HMAC over the client secret, by an
// unpublished key, or expired. The seeds run as regular tests.
func FuzzIDTokenExchange(f *testing.F) {
	e := newEnv(f, keys()[:1])
	oneTime := func(tp *providers.TokenParams) { tp.OneTime = true }
	good := e.exchangeToken(map[string]any{"jti": "id-1"})
	accepted, err := e.exchange(good, oneTime)
	if err != nil || len(accepted.ReplayKeys) != 1 {
		f.Fatalf("the seed ID token is refused: %v %+v", err, accepted)
	}
	claims := e.iss.Claims("")
	claims["aud"] = appA
	parts := strings.Split(good, ".")
	for _, s := range []string{
		good,
		e.exchangeToken(map[string]any{"aud": appB}),
		e.exchangeToken(map[string]any{"exp": t0.Add(-time.Hour).Unix(), "iat": t0.Add(-2 * time.Hour).Unix()}),
		providertest.SignNone(claims),
		providertest.SignHS256([]byte(strings.Repeat("s3cret", 6)), "k1", claims),
		providertest.SignJWT(keys()[1], true, nil, claims),
		parts[0] + "." + parts[1] + ".",
		parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[2],
		"eyJhbGciOiJSUzI1NiJ9.e30.", "a.b.c", "", "....",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := e.exchange(tok, oneTime)
		if err != nil {
			if !errors.Is(err, providers.ErrInvalidResponse) || id.Subject != "" || id.ReplayKeys != nil {
				t.Fatalf("refused with %v and identity %+v", err, id)
			}
			return
		}
		if id.ProviderID != "op-a" || id.Subject != "alice" || !reflect.DeepEqual(id.ReplayKeys, accepted.ReplayKeys) {
			t.Fatalf("accepted %q as %+v", tok, id)
		}
	})
}
