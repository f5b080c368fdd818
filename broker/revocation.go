package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/keys"
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
	_, err := revokeTokens(ctx, s.store, f, now, s.cfg.AccessTokenTTL)
	return err
}

// revokeTokens is RevokeTokens for every filter but a grant, on st at now, for the
// server and for CutOff alike. It returns how many refresh tokens it revoked.
func revokeTokens(ctx context.Context, st store.Store, f store.RefreshFilter, now time.Time, accessTokenTTL time.Duration) (int64, error) {
	n, err := st.RefreshTokens().Revoke(ctx, f, now)
	if err != nil {
		return 0, err
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
		return n, nil
	}
	return n, st.Revocations().Revoke(ctx, key, now, now.Add(accessTokenTTL))
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

// RevokeSigningKey revokes a compromised signing key (SECURITY.md AS-JWT-04,
// AS-JWT-10): every token it signed is refused at once by every replica, through a
// revocation-list entry that the verification of access tokens and ID-token hints
// consults and the JWKS handler honours; km then deletes the key, promoting a new
// one without publish delay if it was active. The entry is written first, so an
// interrupted run already refuses the key's tokens, and running it again finishes.
// It audits the revocation as actor.
func RevokeSigningKey(ctx context.Context, st store.Store, km *keys.Manager, kid, actor string, now time.Time) (keys.Revoked, error) {
	recs, err := st.SigningKeys().List(ctx)
	if err != nil {
		return keys.Revoked{}, err
	}
	if !slices.ContainsFunc(recs, func(k store.SigningKey) bool { return k.ID == kid }) {
		return keys.Revoked{}, fmt.Errorf("no signing key %q: %w", kid, store.ErrNotFound)
	}
	// Tokens it signed (on a replica that has not refreshed yet, until now plus a
	// refresh interval) all expire by until; the entry covers every issue time.
	until := now.Add(km.RevocationHorizon())
	if err := st.Revocations().Revoke(ctx, token.KeyRevocationKey(kid), until, until); err != nil {
		return keys.Revoked{}, err
	}
	res, err := km.Revoke(ctx, kid)
	if err != nil {
		return res, err
	}
	details := map[string]any{"alg": res.Key.Algorithm, "state": res.Key.State}
	if res.Replacement != nil {
		details["replacement"] = res.Replacement.ID
	}
	b, _ := json.Marshal(details)
	err = st.Audit().Append(ctx, store.AuditEvent{Time: now.UTC(), Actor: actor, Action: "key.revoked", Target: kid, Details: b})
	if err != nil {
		return res, errors.Join(errors.New("the key is revoked but the audit event was not written"), err)
	}
	return res, nil
}

// CutOffTarget names whose access CutOff ends; exactly one field is set.
type CutOffTarget struct {
	// ProviderID: every session signed in at the provider, and what was issued
	// under them (the provider was disabled or removed).
	ProviderID string
	// UserID: every session of the user and every refresh and access token
	// issued to them (the user was disabled or signed out by an admin).
	UserID string
}

// CutOff ends access at once, on every replica: the sessions of c end (their
// rows go, so every replica's next request finds none) and the refresh tokens
// and access tokens issued under them are revoked through the database (the
// refresh-token rows and the revocation list introspection and UserInfo
// consult). It is the one implementation of an admin's cut-off: the CLI's
// providers disable|remove and users disable|sign-out call it, and the server's
// own revocations share revokeTokens with it.
//
// Call it after the change that stops new access has committed (the provider
// disabled or removed, the user disabled): a sign-in records its session only at
// an enabled provider, under a lock the disable waits for
// (store.SignIn.RequireEnabledProvider), so every session this lists is every
// session there will be. A code or refresh token of an ended session is refused
// by the token endpoint (sessionEnded). Each session's tokens are revoked before
// its row is deleted, as endSession does: a failure leaves the row for a retry.
// It returns how many sessions it ended and refresh tokens it revoked.
func CutOff(ctx context.Context, st store.Store, c CutOffTarget, now time.Time, accessTokenTTL time.Duration) (sessions int, refresh int64, err error) {
	var list []store.Session
	switch {
	case c.ProviderID != "" && c.UserID == "":
		list, err = st.Sessions().ListForProvider(ctx, c.ProviderID)
	case c.UserID != "" && c.ProviderID == "":
		// Also the refresh tokens issued without a browser session, and every
		// access token of the user through one revocation entry.
		if refresh, err = revokeTokens(ctx, st, store.RefreshFilter{UserID: c.UserID}, now, accessTokenTTL); err != nil {
			return 0, 0, err
		}
		list, err = st.Sessions().ListForUser(ctx, c.UserID)
	default:
		return 0, 0, errors.New("broker: a cut-off names a provider or a user")
	}
	if err != nil {
		return 0, refresh, err
	}
	for _, x := range list {
		n, err := revokeTokens(ctx, st, store.RefreshFilter{SessionID: x.ID}, now, accessTokenTTL)
		if err != nil {
			return sessions, refresh, fmt.Errorf("revoke the tokens of session %s: %w", x.ID, err)
		}
		refresh += n
		if err := st.Sessions().Delete(ctx, x.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return sessions, refresh, err
		}
		sessions++
	}
	return sessions, refresh, nil
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
