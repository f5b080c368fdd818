package broker

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// grantRefreshToken rotates a refresh token (RFC 6749 §6, RFC 9700 §4.14.2): the
// presented token is claimed once across every replica and replaced by a new one in
// the same family; presenting a rotated token again revokes the whole family and
// every access token of its grant.
func (s *Server) grantRefreshToken(r *http.Request, c *store.Client, f form) (*tokenResponse, error) {
	ctx := r.Context()
	raw := f.get("refresh_token")
	if raw == "" {
		return nil, invalidRequest("refresh_token is required")
	}
	hash := token.Hash(raw)
	old, err := s.store.RefreshTokens().GetByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, rejected(invalidGrant("the refresh token is invalid", err), "refresh_token_unknown", c.ID, "", nil)
	}
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if old.ClientID != c.ID {
		// RFC 6749 §6: bound to the client. Another client holding it means it was
		// stolen: its family is revoked (AS-RT-03).
		if err := s.revokeFamily(ctx, old, now); err != nil {
			return nil, err
		}
		return nil, rejected(invalidGrant("the refresh token was issued to another client", nil), "refresh_token_other_client",
			c.ID, old.UserID, map[string]any{"owner": old.ClientID, "family": old.FamilyID})
	}
	// RFC 6749 §6: the new scope may only narrow the original (AS-RT-04). The new
	// refresh token keeps the original scope; only the access token narrows.
	scopes := old.Scopes
	if raw := f.get("scope"); raw != "" {
		req := token.ParseScope(raw)
		if !token.Subset(req, old.Scopes) {
			return nil, rejected(invalidScope("the requested scope exceeds the original grant"), "scope_exceeds_grant", c.ID, old.UserID, nil)
		}
		scopes = req
	}
	scopes = slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool { return !slices.Contains(c.Scopes, sc) })
	if revoked, err := s.grantRevokedSince(ctx, old); err != nil {
		return nil, err
	} else if revoked {
		return nil, rejected(invalidGrant("the refresh token was revoked", nil), "refresh_token_revoked", c.ID, old.UserID,
			map[string]any{"family": old.FamilyID})
	}
	u, err := s.store.Users().Get(ctx, old.UserID)
	if err != nil || u.Disabled {
		return nil, rejected(invalidGrant("the user cannot receive tokens", err), "user_unavailable", c.ID, old.UserID, nil)
	}
	next, nextHash := token.NewOpaque()
	rotated, err := s.store.RefreshTokens().Rotate(ctx, hash, store.RefreshToken{
		TokenHash: nextHash, GrantID: old.GrantID, ClientID: old.ClientID, UserID: old.UserID,
		SessionID: old.SessionID, Scopes: old.Scopes, Audience: old.Audience, DelegationID: old.DelegationID,
		AuthTime: old.AuthTime, ACR: old.ACR, AMR: old.AMR, CreatedAt: now, ExpiresAt: old.ExpiresAt, // the family's remaining lifetime
	}, now)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		// The store revoked the family; the access tokens go through the grant.
		if err := s.revokeGrant(ctx, rotated.GrantID, now); err != nil {
			return nil, err
		}
		return nil, rejected(invalidGrant("the refresh token was already used", err), "refresh_token_reused", c.ID, rotated.UserID,
			map[string]any{"family": rotated.FamilyID})
	case errors.Is(err, store.ErrNotFound):
		return nil, rejected(invalidGrant("the refresh token is revoked or expired", err), "refresh_token_revoked", c.ID, old.UserID,
			map[string]any{"family": old.FamilyID})
	case err != nil:
		return nil, err
	}
	signer, err := s.keys.Signer(ctx)
	if err != nil {
		return nil, err
	}
	// OIDC Core §12.2: same iss and sub, auth_time, acr and amr of the original
	// authentication, no nonce.
	res, cl, err := s.issueUserTokens(signer, accessGrant{client: c, subject: old.UserID, audience: old.Audience,
		scopes: scopes, grantID: old.GrantID, sessionID: old.SessionID, authTime: old.AuthTime, acr: old.ACR, amr: old.AMR}, "", now)
	if err != nil {
		return nil, err
	}
	res.RefreshToken = next
	s.auditIssued(r, c.ID, registry.GrantRefreshToken, cl)
	s.touchConsent(r, old.UserID, c.ID, now)
	return res, nil
}

// consentTouchEvery bounds the connected-app "last used" writes a refreshing
// client causes to one a minute per consent and replica: the account page shows
// the time to the minute at best.
const consentTouchEvery = time.Minute

// touchConsent records that the client used the person's consent now. A client
// without a consent row (first party) has nothing to touch, and a failed write
// costs only the "last used" time, so neither refuses the request.
func (s *Server) touchConsent(r *http.Request, userID, clientID string, now time.Time) {
	if ok, _ := s.consentTouches.take(token.UserClientKey(userID, clientID), 1); !ok {
		return
	}
	if err := s.store.Consents().Touch(r.Context(), userID, clientID, now); err != nil && !isNotFound(err) {
		s.log.WarnContext(r.Context(), "consent last use not recorded", "request_id", RequestID(r.Context()), "error", err.Error())
	}
}
