package token

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// ErrInvalidAccess: the token is not a good Gatehouse access token. Why is
// deliberately not said: callers answer invalid_token, inactive or invalid_grant,
// nothing more.
var ErrInvalidAccess = errors.New("access token invalid, expired or revoked")

// MaxAccessTokenSize bounds a presented token before any parsing (AS-JWT-12);
// ours are well under 2 KiB.
const MaxAccessTokenSize = 8 << 10

// Verifier is the one check of a Gatehouse access token presented to Gatehouse
// (userinfo, introspection, token exchange): size before parsing, signature by a
// published key with the algorithm stored for its kid and typ at+jwt (RFC 9068
// §4, RFC 8725 §3.1, §3.11 — keys.Verify), our issuer, a jti, not expired, not
// issued or valid only in the future beyond a minute's skew, and not revoked.
// What an endpoint needs beyond that (audience, subject, client) is its own
// check.
type Verifier struct {
	Keys interface {
		VerifyKey(ctx context.Context, token, typ string, dst any) (string, error)
	}
	Store  interface{ Revocations() store.Revocations }
	Issuer string
	Now    func() time.Time
}

// Verify returns the claims of tok, ErrInvalidAccess, or a store failure as it
// is, so that it becomes 5xx rather than "inactive".
func (v *Verifier) Verify(ctx context.Context, tok string) (AccessClaims, error) {
	var cl AccessClaims
	if len(tok) > MaxAccessTokenSize || !LooksLikeJWT(tok) {
		return cl, ErrInvalidAccess
	}
	kid, err := v.Keys.VerifyKey(ctx, tok, TypeAccess, &cl)
	if err != nil {
		return cl, ErrInvalidAccess
	}
	now := v.Now().Unix()
	const skew = 60
	if cl.Issuer != v.Issuer || cl.ID == "" || now >= cl.Expiry || cl.IssuedAt > now+skew || cl.NotBefore > now+skew {
		return cl, ErrInvalidAccess
	}
	// The signing key's entry too: a key revoked on another replica is still in
	// this one's cache until its next refresh (SECURITY.md AS-JWT-04).
	// This one query also answers for a disabled user ("user:…"), a cut-off
	// provider ("session:…" of each session CutOff ended, "provider:…" of an
	// exchanged token): a sign-in records its session only at an enabled
	// provider, and a code or refresh token of an ended session issues nothing,
	// so no access token of a cut-off session escapes its entry and
	// introspection, the hot path, needs no read of the session or the provider.
	latest, err := v.Store.Revocations().Latest(ctx, append(cl.RevocationKeys(), KeyRevocationKey(kid)))
	if err != nil {
		return cl, err
	}
	if !latest.IsZero() && !latest.Before(time.Unix(cl.IssuedAt, 0)) {
		return cl, ErrInvalidAccess
	}
	return cl, nil
}
