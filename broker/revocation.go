package broker

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
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
	if _, err := s.store.RefreshTokens().Revoke(ctx, f, now); err != nil {
		return err
	}
	if f.GrantID != "" {
		return s.revokeGrant(ctx, f.GrantID, now)
	}
	var key string
	switch {
	case f.SessionID != "":
		key = "session:" + f.SessionID
	case f.UserID != "" && f.ClientID != "":
		key = token.UserClientKey(f.UserID, f.ClientID)
	case f.UserID != "":
		key = "user:" + f.UserID
	case f.ClientID != "":
		key = "client:" + f.ClientID
	default:
		// FamilyID and DelegationID: access tokens do not carry them; their refresh
		// tokens are revoked above.
		return nil
	}
	return s.store.Revocations().Revoke(ctx, key, now, now.Add(s.cfg.AccessTokenTTL))
}

// revokeGrant revokes every refresh and access token of a grant, including any
// still being issued by a concurrent request (the entry covers all issue times).
func (s *Server) revokeGrant(ctx context.Context, grantID string, now time.Time) error {
	if grantID == "" {
		return nil
	}
	if _, err := s.store.RefreshTokens().Revoke(ctx, store.RefreshFilter{GrantID: grantID}, now); err != nil {
		return err
	}
	until := now.Add(max(s.cfg.AccessTokenTTL, s.cfg.RefreshTokenTTL))
	return s.store.Revocations().Revoke(ctx, "grant:"+grantID, until, until)
}

// revokeFamily revokes a refresh-token family and its grant's access tokens.
func (s *Server) revokeFamily(ctx context.Context, t store.RefreshToken, now time.Time) error {
	if _, err := s.store.RefreshTokens().Revoke(ctx, store.RefreshFilter{FamilyID: t.FamilyID}, now); err != nil {
		return err
	}
	return s.revokeGrant(ctx, t.GrantID, now)
}

// grantRevokedSince reports whether a revocation list entry covers a refresh token:
// its grant, or a session, consent, user or client revocation made after it was
// created (a rotation racing with RevokeTokens could otherwise outlive it).
func (s *Server) grantRevokedSince(ctx context.Context, t store.RefreshToken) (bool, error) {
	keys := []string{"grant:" + t.GrantID, token.UserClientKey(t.UserID, t.ClientID), "user:" + t.UserID, "client:" + t.ClientID}
	if t.SessionID != "" {
		keys = append(keys, "session:"+t.SessionID)
	}
	latest, err := s.store.Revocations().Latest(ctx, keys)
	if err != nil {
		return false, err
	}
	return !latest.IsZero() && !latest.Before(t.CreatedAt), nil
}

// RevokeIssuedBefore applies a restore watermark (DATA-12): every refresh token,
// access token and browser session issued before t stops working, so nothing a
// restored database backup brought back can be used. Access tokens are refused
// through one revocation entry they are all checked against, kept until the
// longest-lived token issued before t has expired. It returns how many refresh
// tokens and sessions it ended.
func RevokeIssuedBefore(ctx context.Context, st store.Store, t time.Time, accessTokenTTL time.Duration) (refresh int64, sessions int, err error) {
	if refresh, err = st.RefreshTokens().Revoke(ctx, store.RefreshFilter{IssuedBefore: t}, t); err != nil {
		return 0, 0, err
	}
	if err := st.Revocations().Revoke(ctx, token.RevokeAllKey, t, t.Add(accessTokenTTL)); err != nil {
		return refresh, 0, err
	}
	// A session restored from a backup was last seen before t.
	ids, err := st.Sessions().DeleteExpired(ctx, t, t)
	return refresh, len(ids), err
}
