package oauth

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
)

// RevokeTokens revokes the refresh tokens f selects and, through the revocation list
// introspection consults, the access tokens issued under the same selection. It is
// what the other flows call: revoking a consent ({UserID, ClientID}), ending a
// session ({SessionID}) or every session of a user ({UserID}), removing a client
// ({ClientID}), or a grant ({GrantID}). Access tokens are self-contained JWTs: a
// resource server that validates them offline accepts them until they expire (at
// most the access-token lifetime); Gatehouse's introspection reports them inactive
// at once (AS-REV-02, DATA-10).
func (s *Server) RevokeTokens(ctx context.Context, f store.RefreshFilter) error {
	now := s.Now()
	if f.GrantID != "" {
		if _, err := s.store.RefreshTokens().Revoke(ctx, f, now); err != nil {
			return err
		}
		return s.revokeGrant(ctx, f.GrantID, now)
	}
	_, err := revoke.Tokens(ctx, s.store, f, now, s.cfg.AccessTokenTTL)
	return err
}

// revokeGrant revokes every refresh and access token of a grant, including any
// still being issued by a concurrent request (the entry covers all issue times).
func (s *Server) revokeGrant(ctx context.Context, grantID string, now time.Time) error {
	return revoke.Grant(ctx, s.store, grantID, now, now.Add(max(s.cfg.AccessTokenTTL, s.cfg.RefreshTokenTTL)))
}

// refreshRevocationKeys are the revocation list entries that cover a refresh
// token: its grant's, or a session, consent, user or client revocation made
// after it was created (a rotation racing with RevokeTokens could otherwise
// outlive it).
func refreshRevocationKeys(t store.RefreshToken) []string {
	keys := []string{"grant:" + t.GrantID, token.UserClientKey(t.UserID, t.ClientID), "user:" + t.UserID, "client:" + t.ClientID}
	if t.SessionID != "" {
		keys = append(keys, token.SessionRevocationKey(t.SessionID))
	}
	return keys
}

// revokedSince reports whether st's latest revocation covers what was created
// at created.
func revokedSince(st store.Standing, created time.Time) bool {
	return !st.Revoked.IsZero() && !st.Revoked.Before(created)
}

// signInStands refuses the tokens of a redeemed code or device grant whose
// person can no longer receive tokens, or whose sign-in (named by which) has
// ended since it was approved, an admin's cut-off included: the revocation
// list covers only tokens issued before the end.
func (s *Server) signInStands(ctx context.Context, c *store.Client, userID, sessionID, grantID, which string) error {
	st, err := s.store.Revocations().Standing(ctx, store.StandingOf{UserID: userID, SessionID: sessionID})
	switch {
	case err != nil:
		return err
	case !st.UserActive:
		return web.Rejected(web.InvalidGrant("the user cannot receive tokens", nil), "user_unavailable", c.ID, userID, nil)
	case st.SessionEnded:
		return web.Rejected(web.InvalidGrant("the sign-in "+which+" has ended", nil), "session_ended", c.ID, userID,
			map[string]any{"grant": grantID})
	}
	return nil
}
