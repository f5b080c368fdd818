package broker

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// grantAuthorizationCode redeems a code (RFC 6749 §4.1.3). The code is claimed
// first, exactly once across every replica (store.Codes.Redeem), and only then
// checked: a code presented with the wrong client, redirect URI or verifier is burnt,
// and a code presented twice revokes everything its first redemption issued (RFC
// 6749 §4.1.2, AS-CODE-01).
func (s *Server) grantAuthorizationCode(r *http.Request, c *store.Client, f form) (*tokenResponse, error) {
	ctx := r.Context()
	code := f.get("code")
	if code == "" {
		return nil, invalidRequest("code is required")
	}
	now := s.Now()
	ac, err := s.store.Codes().Redeem(ctx, token.Hash(code), now)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		if err := s.revokeGrant(ctx, ac.GrantID, now); err != nil {
			return nil, err
		}
		return nil, rejected(invalidGrant("the authorization code was already used", err), "code_reused", c.ID, ac.UserID,
			map[string]any{"grant": ac.GrantID})
	case errors.Is(err, store.ErrNotFound):
		return nil, rejected(invalidGrant("the authorization code is invalid or expired", err), "code_unknown", c.ID, "", nil)
	case err != nil:
		return nil, err
	}
	if oe := s.checkCode(c, &ac, f); oe != nil {
		return nil, rejected(oe, oe.Reason, c.ID, ac.UserID, map[string]any{"grant": ac.GrantID})
	}
	u, err := s.store.Users().Get(ctx, ac.UserID)
	if err != nil || u.Disabled {
		return nil, rejected(invalidGrant("the user cannot receive tokens", err), "user_unavailable", c.ID, ac.UserID, nil)
	}
	// The code's scope was decided at authorization; the client may have lost some
	// of its allowed scopes since.
	scopes := slices.DeleteFunc(slices.Clone(ac.Scopes), func(sc string) bool { return !slices.Contains(c.Scopes, sc) })
	signer, err := s.keys.Signer(ctx)
	if err != nil {
		return nil, err
	}
	g := accessGrant{client: c, subject: ac.UserID, audience: ac.Audience, scopes: scopes, grantID: ac.GrantID,
		sessionID: ac.SessionID, authTime: ac.AuthTime, acr: ac.ACR, amr: ac.AMR}
	res, cl, err := s.issueUserTokens(signer, g, ac.Nonce, now)
	if err != nil {
		return nil, err
	}
	if slices.Contains(c.GrantTypes, registry.GrantRefreshToken) {
		rt, hash := token.NewOpaque()
		err := s.store.RefreshTokens().Create(ctx, store.RefreshToken{
			TokenHash: hash, FamilyID: token.NewID(), GrantID: ac.GrantID, ClientID: c.ID, UserID: ac.UserID,
			SessionID: ac.SessionID, Scopes: scopes, Audience: ac.Audience, DelegationID: ac.DelegationID,
			AuthTime: ac.AuthTime, ACR: ac.ACR, AMR: ac.AMR, CreatedAt: now, ExpiresAt: now.Add(s.refreshTTL(c)),
		})
		if err != nil {
			return nil, err
		}
		res.RefreshToken = rt
	}
	s.auditIssued(r, c.ID, registry.GrantAuthorizationCode, cl)
	return res, nil
}

// checkCode binds the code to the client, the redirect URI and the PKCE verifier.
func (s *Server) checkCode(c *store.Client, ac *store.AuthCode, f form) *oauthError {
	if ac.ClientID != c.ID {
		// RFC 6749 §4.1.3; AS-CODE-03.
		return rejected(invalidGrant("the authorization code was issued to another client", nil), "code_other_client", "", "", nil)
	}
	if f.get("redirect_uri") != ac.RedirectURI {
		// RFC 6749 §4.1.3: identical to the authorization request's.
		return rejected(invalidGrant("redirect_uri does not match the authorization request", nil), "redirect_uri", "", "", nil)
	}
	if ac.CodeChallenge == "" {
		// Every authorization needs PKCE (BCP §2.1.1); a code without a challenge is
		// not one Gatehouse issued.
		return rejected(invalidGrant("the authorization code has no PKCE challenge", nil), "pkce_missing", "", "", nil)
	}
	v := f.get("code_verifier")
	if v == "" {
		return rejected(invalidGrant("code_verifier is required", nil), "pkce_verifier_missing", "", "", nil) // RFC 7636 §4.6; AS-PKCE-03
	}
	if !validVerifier(v) {
		return rejected(invalidGrant("code_verifier is malformed", nil), "pkce_verifier_malformed", "", "", nil) // RFC 7636 §4.1
	}
	sum := sha256.Sum256([]byte(v))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(ac.CodeChallenge)) != 1 {
		return rejected(invalidGrant("code_verifier does not match the challenge", nil), "pkce_mismatch", "", "", nil) // RFC 7636 §4.6; AS-PKCE-04
	}
	return nil
}

// validVerifier: RFC 7636 §4.1, 43–128 characters of [A-Z] [a-z] [0-9] - . _ ~.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// issueUserTokens mints the access token, and an ID token when openid was granted,
// both with one Signer so at_hash matches the ID token's algorithm.
func (s *Server) issueUserTokens(signer *keys.Signer, g accessGrant, nonce string, now time.Time) (*tokenResponse, *token.AccessClaims, error) {
	at, cl, ttl, err := s.mintAccess(signer, g, now)
	if err != nil {
		return nil, nil, err
	}
	res := &tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second), Scope: cl.Scope}
	if slices.Contains(g.scopes, "openid") {
		id := &token.IDClaims{
			Issuer: s.cfg.Issuer.String(), Subject: g.subject, Audience: token.Audience{g.client.ID},
			Expiry: now.Add(s.cfg.IDTokenTTL).Unix(), IssuedAt: now.Unix(), AuthTime: token.Unix(g.authTime),
			Nonce: nonce, AuthorizedParty: g.client.ID, AccessTokenHash: token.AccessTokenHash(signer.Algorithm(), at),
			ACR: g.acr, AMR: g.amr, SessionID: g.sessionID,
		}
		if res.IDToken, err = token.SignID(signer, id); err != nil {
			return nil, nil, err
		}
	}
	return res, cl, nil
}
