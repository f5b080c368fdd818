package broker

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/broker/token"
)

// errInvalidAccessToken: the token is not a good Gatehouse access token. Why is
// deliberately not said: callers answer invalid_token or inactive, nothing more.
var errInvalidAccessToken = errors.New("access token invalid, expired or revoked")

// maxAccessTokenSize bounds a presented token before any parsing (AS-JWT-12);
// ours are well under 2 KiB.
const maxAccessTokenSize = 8 << 10

// verifyAccessToken is the one check of an access token presented to Gatehouse
// (userinfo, introspection): size before parsing, signature by a published key with
// the algorithm stored for its kid and typ at+jwt (RFC 9068 §4, RFC 8725 §3.1,
// §3.11 — keys.Verify), our issuer, a jti, not expired, not issued or valid only in
// the future beyond a minute's skew, and not revoked. What an endpoint needs beyond
// that (audience, subject, client) is its own check. Store failures are returned as
// they are, so they become 5xx rather than "inactive".
func (s *Server) verifyAccessToken(ctx context.Context, tok string) (token.AccessClaims, error) {
	var cl token.AccessClaims
	if len(tok) > maxAccessTokenSize || !token.LooksLikeJWT(tok) {
		return cl, errInvalidAccessToken
	}
	if err := s.keys.Verify(ctx, tok, token.TypeAccess, &cl); err != nil {
		return cl, errInvalidAccessToken
	}
	now := s.Now().Unix()
	const skew = 60
	if cl.Issuer != s.cfg.Issuer.String() || cl.ID == "" || now >= cl.Expiry || cl.IssuedAt > now+skew || cl.NotBefore > now+skew {
		return cl, errInvalidAccessToken
	}
	latest, err := s.store.Revocations().Latest(ctx, cl.RevocationKeys())
	if err != nil {
		return cl, err
	}
	if !latest.IsZero() && !latest.Before(time.Unix(cl.IssuedAt, 0)) {
		return cl, errInvalidAccessToken
	}
	return cl, nil
}
