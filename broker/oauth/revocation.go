package oauth

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/broker/revoke"
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
		keys = append(keys, token.SessionRevocationKey(t.SessionID))
	}
	latest, err := s.store.Revocations().Latest(ctx, keys)
	if err != nil {
		return false, err
	}
	return !latest.IsZero() && !latest.Before(t.CreatedAt), nil
}

// sessionEnded reports whether a code or token issued under sessionID may no
// longer be used: the session is gone (it ended, and whatever ended it revoked
// its tokens) or its provider is removed or disabled. It stands behind the
// revocation list for what a cut-off could miss: a provider disabled without
// one (a providers file, a database edit), a code issued before the cut-off
// and redeemed after it. Codes and tokens without a session (client
// credentials, delegation) have none to check.
func (s *Server) sessionEnded(ctx context.Context, sessionID string) (bool, error) {
	if sessionID == "" {
		return false, nil
	}
	sess, err := s.store.Sessions().Get(ctx, sessionID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	p, err := s.store.Providers().Get(ctx, sess.ProviderID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return !p.Enabled, nil
}
