package token_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// FuzzAccessTokenVerify feeds arbitrary strings to token.Verifier, the one check
// of an access token presented at UserInfo, introspection and exchange: no panic;
// every refusal is ErrInvalidAccess (garbage never becomes a 5xx); and only the
// seed's good token is accepted, with exactly its claims — not the seeds signed
// with alg none or HS256 over the public key (RFC 8725 §2.1, §3.1), an ID
// token (typ, §3.11), an expired token, or a revoked one. The seeds run as
// regular tests.
func FuzzAccessTokenVerify(f *testing.F) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	db := testsupport.OpenSQLite(f)
	ring, err := seal.NewKeyring(make([]byte, seal.KeySize))
	if err != nil {
		f.Fatal(err)
	}
	km, err := keys.NewManager(db.SigningKeys(), ring, keys.Options{Algorithm: keys.ES256, Now: clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	if err := km.EnsureKey(ctx); err != nil {
		f.Fatal(err)
	}
	const issuer = "https://gatehouse.test"
	claims := func(jti string, iat time.Time) token.AccessClaims {
		return token.AccessClaims{Issuer: issuer, Subject: "alice", Audience: token.Audience{"https://notes.test"},
			IssuedAt: iat.Unix(), Expiry: iat.Add(10 * time.Minute).Unix(), ID: jti, ClientID: "web", Scope: "notes.read",
			GrantID: "g1", SessionID: "s1"}
	}
	sign := func(cl any, typ string) string {
		tok, err := km.Sign(ctx, cl, typ)
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	goodClaims := claims("good", now)
	good := sign(goodClaims, token.TypeAccess)
	revoked := sign(claims("revoked", now), token.TypeAccess)
	if err := db.Revocations().Revoke(ctx, now, now.Add(time.Hour), "jti:revoked"); err != nil {
		f.Fatal(err)
	}
	v := &token.Verifier{Keys: km, Store: db, Issuer: issuer, Now: clock}
	if got, err := v.Verify(ctx, good); err != nil || !reflect.DeepEqual(got, goodClaims) {
		f.Fatalf("the seed token is refused: %v %+v", err, got)
	}

	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	for _, s := range []string{
		good, revoked,
		sign(claims("expired", now.Add(-time.Hour)), token.TypeAccess),
		sign(claims("idtoken", now), token.TypeID),
		b64([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + ".",
		b64([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"x"}`)) + "." + parts[1] + "." + parts[2],
		parts[0] + "." + parts[1] + "." + parts[2][:10],
		parts[0] + "." + b64([]byte(`{"iss":"`+issuer+`","jti":"x","exp":9999999999}`)) + "." + parts[2],
		good + ".", "..", "", "a.b.c", strings.Repeat("a", token.MaxAccessTokenSize+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := v.Verify(ctx, tok)
		if err != nil {
			if !errors.Is(err, token.ErrInvalidAccess) {
				t.Fatalf("refused with %v, want ErrInvalidAccess", err)
			}
			return
		}
		if !reflect.DeepEqual(got, goodClaims) {
			t.Fatalf("accepted %q with claims %+v", tok, got)
		}
	})
}
