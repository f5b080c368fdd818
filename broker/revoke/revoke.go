// Package revoke ends access: it revokes refresh tokens, writes the
// revocation-list entries that introspection and UserInfo consult, ends browser
// sessions, and cuts off users and providers. It sits below every capability: the
// OAuth server's own revocations, the admin operations and the restore watermark
// all call it, so there is one implementation of each way access ends.
package revoke

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// Tokens revokes the refresh tokens f selects and, through one revocation-list
// entry kept for accessTokenTTL, the access tokens issued under the same selection
// before now. It handles every filter but a grant (Grant does) and sessions
// (Sessions does). It returns how many refresh tokens it revoked.
func Tokens(ctx context.Context, st store.Store, f store.RefreshFilter, now time.Time, accessTokenTTL time.Duration) (int64, error) {
	if f.SessionIDs != nil {
		// Refused before anything is revoked: their access tokens' entries are
		// Sessions' to write.
		return 0, errors.New("revoke: sessions end through revoke.Sessions")
	}
	n, err := st.RefreshTokens().Revoke(ctx, f, now)
	if err != nil {
		return 0, err
	}
	var key string
	switch {
	case f.UserID != "" && f.ClientID != "":
		key = token.UserClientKey(f.UserID, f.ClientID)
	case f.UserID != "":
		key = "user:" + f.UserID
	case f.ClientID != "":
		key = "client:" + f.ClientID
	default:
		// DelegationID: access tokens do not carry it; its refresh tokens are
		// revoked above.
		return n, nil
	}
	return n, st.Revocations().Revoke(ctx, now, now.Add(accessTokenTTL), key)
}

// Sessions ends the sessions ids as a logout ends one (web.Core.EndSession): the
// refresh tokens issued under them are revoked, their access tokens turn inactive
// at introspection and UserInfo through one revocation-list entry per session
// (token.SessionRevocationKey), kept for accessTokenTTL, and only then do
// their rows go, so a failure part way leaves rows for a retry instead of live
// tokens of deleted sessions. However many sessions, that is three statements for
// each store.MaxListed of them: one at a time, the maintenance sweep made three
// commits a session, and PostgreSQL ended 20,000 expired sessions in 242 s under
// load. Run it in a transaction (store.Store.InTx) to end them all or none. It
// returns how many refresh tokens it revoked.
func Sessions(ctx context.Context, st store.Store, ids []string, now time.Time, accessTokenTTL time.Duration) (int64, error) {
	var revoked int64
	for chunk := range slices.Chunk(ids, store.MaxListed) {
		n, err := st.RefreshTokens().Revoke(ctx, store.RefreshFilter{SessionIDs: chunk}, now)
		if err != nil {
			return revoked, err
		}
		revoked += n
		keys := make([]string, len(chunk))
		for i, id := range chunk {
			keys[i] = token.SessionRevocationKey(id)
		}
		if err := st.Revocations().Revoke(ctx, now, now.Add(accessTokenTTL), keys...); err != nil {
			return revoked, err
		}
		if err := st.Sessions().Delete(ctx, chunk...); err != nil {
			return revoked, err
		}
	}
	return revoked, nil
}

// Grant revokes every refresh and access token of a grant, including any still
// being issued by a concurrent request: the entry covers every issue time until
// until, which must be when the longest-lived token of the grant has expired.
func Grant(ctx context.Context, st store.Store, grantID string, now, until time.Time) error {
	if grantID == "" {
		return nil
	}
	if _, err := st.RefreshTokens().Revoke(ctx, store.RefreshFilter{GrantID: grantID}, now); err != nil {
		return err
	}
	return st.Revocations().Revoke(ctx, until, until, "grant:"+grantID)
}

// IssuedBefore applies a restore watermark (DATA-12): every refresh token, access
// token and browser session issued before t stops working, so nothing a restored
// database backup brought back can be used. Access tokens are refused through one
// revocation entry they are all checked against, kept until the longest-lived
// token issued before t has expired. It returns how many refresh tokens and
// sessions it ended.
func IssuedBefore(ctx context.Context, st store.Store, t time.Time, accessTokenTTL time.Duration) (refresh int64, sessions int, err error) {
	if refresh, err = st.RefreshTokens().Revoke(ctx, store.RefreshFilter{IssuedBefore: t}, t); err != nil {
		return 0, 0, err
	}
	if err := st.Revocations().Revoke(ctx, t, t.Add(accessTokenTTL), token.RevokeAllKey); err != nil {
		return refresh, 0, err
	}
	// A session restored from a backup was last seen before t.
	ids, err := st.Sessions().DeleteExpired(ctx, t, t)
	return refresh, len(ids), err
}

// SigningKey revokes a compromised signing key (SECURITY.md AS-JWT-04,
// AS-JWT-10): every token it signed is refused at once by every replica, through a
// revocation-list entry that the verification of access tokens and ID-token hints
// consults and the JWKS handler honours; km then deletes the key, promoting a new
// one without publish delay if it was active. The entry is written first, so an
// interrupted run already refuses the key's tokens, and running it again finishes.
// The caller audits it.
func SigningKey(ctx context.Context, st store.Store, km *keys.Manager, kid string, now time.Time) (keys.Revoked, error) {
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
	if err := st.Revocations().Revoke(ctx, until, until, token.KeyRevocationKey(kid)); err != nil {
		return keys.Revoked{}, err
	}
	return km.Revoke(ctx, kid)
}

// Target names whose access CutOff ends; exactly one field is set.
type Target struct {
	// ProviderID: every session signed in at the provider, what was issued under
	// them, and every access token exchanged from the provider's tokens (the
	// provider was disabled or removed).
	ProviderID string
	// UserID: every session of the user and every refresh and access token
	// issued to them (the user was disabled or signed out by an admin).
	UserID string
}

// CutOff ends access at once, on every replica: the sessions of c end (their
// rows go, so every replica's next request finds none) and the refresh tokens
// and access tokens issued under them are revoked through the database (the
// refresh-token rows and the revocation list introspection and UserInfo
// consult). It is the one implementation of an admin's cut-off: the admin
// operations (providers disable|remove, users disable|sign-out) call it, and the
// server's own revocations share Tokens with it.
//
// Call it after the change that stops new access (the provider disabled or
// removed, the user disabled) has committed, or after it in the same transaction
// (store.Store.InTx, as the admin operations do): a sign-in records its session
// only at an enabled provider, under a lock the disable waits for
// (store.SignIn.RequireEnabledProvider), so every session this lists is every
// session there will be. A code or refresh token of an ended session is refused
// by the token endpoint (store.Standing.SessionEnded). Each session's tokens are
// revoked before its row is deleted, as ending a session does: a failure leaves
// the row for a retry. It returns how many sessions it ended and refresh tokens it
// revoked.
func CutOff(ctx context.Context, st store.Store, c Target, now time.Time, accessTokenTTL time.Duration) (sessions int, refresh int64, err error) {
	var list []store.Session
	switch {
	case c.ProviderID != "" && c.UserID == "":
		// Tokens exchanged from the provider's ID tokens or assertions (RFC 8693)
		// have no session: they carry the provider (token.AccessClaims.Provider)
		// and stop through its entry.
		key := token.ProviderRevocationKey(c.ProviderID)
		if err := st.Revocations().Revoke(ctx, now, now.Add(accessTokenTTL), key); err != nil {
			return 0, 0, err
		}
		list, err = st.Sessions().ListForProvider(ctx, c.ProviderID)
	case c.UserID != "" && c.ProviderID == "":
		// Also the refresh tokens issued without a browser session, and every
		// access token of the user through one revocation entry.
		if refresh, err = Tokens(ctx, st, store.RefreshFilter{UserID: c.UserID}, now, accessTokenTTL); err != nil {
			return 0, 0, err
		}
		list, err = st.Sessions().ListForUser(ctx, c.UserID)
	default:
		return 0, 0, errors.New("broker: a cut-off names a provider or a user")
	}
	if err != nil {
		return 0, refresh, err
	}
	ids := make([]string, len(list))
	for i, x := range list {
		ids[i] = x.ID
	}
	n, err := Sessions(ctx, st, ids, now, accessTokenTTL)
	if err != nil {
		return 0, refresh + n, fmt.Errorf("end the sessions: %w", err)
	}
	return len(ids), refresh + n, nil
}
