package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

type consents struct{ db *DB }

const consentColumns = `user_id, client_id, scopes, created_at, updated_at, last_used_at`

func scanConsent(s rowScanner) (store.Consent, error) {
	var c store.Consent
	err := s.Scan(&c.UserID, &c.ClientID, ld(&c.Scopes), tsd(&c.CreatedAt), tsd(&c.UpdatedAt), tsd(&c.LastUsedAt))
	return c, err
}

func (s consents) Get(ctx context.Context, userID, clientID string) (store.Consent, error) {
	c, err := scanConsent(s.db.sql.QueryRowContext(ctx, `SELECT `+consentColumns+` FROM consents
WHERE user_id = $1 AND client_id = $2`, userID, clientID))
	if err != nil {
		return store.Consent{}, wrap("consents: get", err)
	}
	return c, nil
}

// Put keeps the CreatedAt of a consent it replaces: that is when the user first
// agreed.
func (s consents) Put(ctx context.Context, c store.Consent) error {
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO consents (`+consentColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (user_id, client_id) DO UPDATE
SET scopes = excluded.scopes, updated_at = excluded.updated_at, last_used_at = excluded.last_used_at`,
		c.UserID, c.ClientID, jsonList[string](c.Scopes), s.db.ts(c.CreatedAt), s.db.ts(c.UpdatedAt),
		s.db.ts(c.LastUsedAt))
	if err != nil {
		return wrap("consents: put", err)
	}
	return nil
}

func (s consents) ListForUser(ctx context.Context, userID string) ([]store.Consent, error) {
	const op = "consents: list for user"
	rows, err := s.db.query(ctx, `SELECT `+consentColumns+` FROM consents
WHERE user_id = $1 ORDER BY client_id`, userID)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanConsent)
}

func (s consents) Touch(ctx context.Context, userID, clientID string, at time.Time) error {
	return s.db.execOne(ctx, "consents: touch", `UPDATE consents SET last_used_at = $3
WHERE user_id = $1 AND client_id = $2`, userID, clientID, s.db.ts(at))
}

func (s consents) Delete(ctx context.Context, userID, clientID string) error {
	return s.db.execOne(ctx, "consents: delete", `DELETE FROM consents WHERE user_id = $1 AND client_id = $2`,
		userID, clientID)
}

// DeleteForClient reads no index (consents are keyed by user first): it runs
// once, when an admin deletes an app.
func (s consents) DeleteForClient(ctx context.Context, clientID string) (int64, error) {
	return s.db.execCount(ctx, "consents: delete for client", `DELETE FROM consents WHERE client_id = $1`, clientID)
}

type delegations struct{ db *DB }

const delegationColumns = `id, grantor_id, grantee_user_id, grantee_client_id, audience, scopes, note,
	may_redelegate, parent_id, created_at, expires_at, revoked_at, end_reason, last_used_at, withheld`

func scanDelegation(s rowScanner) (store.Delegation, error) {
	var d store.Delegation
	err := s.Scan(&d.ID, &d.GrantorID, &d.GranteeUserID, &d.GranteeClientID, &d.Audience, ld(&d.Scopes), &d.Note,
		&d.MayRedelegate, &d.ParentID, tsd(&d.CreatedAt), tsd(&d.ExpiresAt), tsd(&d.RevokedAt), &d.EndReason,
		tsd(&d.LastUsedAt), ld(&d.Withheld))
	return d, err
}

func (s delegations) Create(ctx context.Context, d store.Delegation) error {
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO delegations (`+delegationColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		d.ID, d.GrantorID, d.GranteeUserID, d.GranteeClientID, d.Audience, jsonList[string](d.Scopes), d.Note,
		d.MayRedelegate, d.ParentID, s.db.ts(d.CreatedAt), s.db.ts(d.ExpiresAt), s.db.ts(d.RevokedAt), d.EndReason,
		s.db.ts(d.LastUsedAt), jsonList[string](d.Withheld))
	if err != nil {
		return wrap("delegations: create", err)
	}
	return nil
}

func (s delegations) Get(ctx context.Context, id string) (store.Delegation, error) {
	d, err := scanDelegation(s.db.sql.QueryRowContext(ctx, `SELECT `+delegationColumns+` FROM delegations
WHERE id = $1`, id))
	if err != nil {
		return store.Delegation{}, wrap("delegations: get", err)
	}
	return d, nil
}

// ListByGrantor lists revoked and expired grants too.
func (s delegations) ListByGrantor(ctx context.Context, grantorID string) ([]store.Delegation, error) {
	const op = "delegations: list by grantor"
	rows, err := s.db.query(ctx, `SELECT `+delegationColumns+` FROM delegations
WHERE grantor_id = $1 ORDER BY created_at, id`, grantorID)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanDelegation)
}

// ListByGrantee lists the grants to either. The query names only the columns asked
// for, so that an empty argument does not match every grant to the other kind.
func (s delegations) ListByGrantee(ctx context.Context, granteeUserID, granteeClientID string) ([]store.Delegation, error) {
	const op = "delegations: list by grantee"
	var where []string
	var args []any
	if granteeUserID != "" {
		args = append(args, granteeUserID)
		where = append(where, "grantee_user_id = $"+strconv.Itoa(len(args)))
	}
	if granteeClientID != "" {
		args = append(args, granteeClientID)
		where = append(where, "grantee_client_id = $"+strconv.Itoa(len(args)))
	}
	if len(where) == 0 {
		return nil, nil
	}
	rows, err := s.db.query(ctx, `SELECT `+delegationColumns+` FROM delegations
WHERE `+strings.Join(where, " OR ")+` ORDER BY created_at, id`, args...) // three texts
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanDelegation)
}

// ListByParent: an empty parentID would match every grantor's own grant.
func (s delegations) ListByParent(ctx context.Context, parentID string) ([]store.Delegation, error) {
	const op = "delegations: list by parent"
	if parentID == "" {
		return nil, nil
	}
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+delegationColumns+` FROM delegations
WHERE parent_id = $1 ORDER BY created_at, id`, parentID)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanDelegation)
}

// Revoke keeps the first end when called again.
func (s delegations) Revoke(ctx context.Context, id, grantorID string, at time.Time) error {
	return s.db.execOne(ctx, "delegations: revoke", `UPDATE delegations
SET end_reason = CASE WHEN revoked_at IS NULL THEN $4 ELSE end_reason END, revoked_at = COALESCE(revoked_at, $3)
WHERE id = $1 AND grantor_id = $2`, id, grantorID, s.db.ts(at), store.DelegationEndRevoked)
}

// End keeps the first end when called again: both columns are set in one
// statement from the row as it was, so the reason always belongs to the time.
func (s delegations) End(ctx context.Context, id string, at time.Time, reason string) error {
	return s.db.execOne(ctx, "delegations: end", `UPDATE delegations
SET end_reason = CASE WHEN revoked_at IS NULL THEN $3 ELSE end_reason END, revoked_at = COALESCE(revoked_at, $2)
WHERE id = $1`, id, s.db.ts(at), reason)
}

func (s delegations) Touch(ctx context.Context, id string, at time.Time) error {
	return s.db.execOne(ctx, "delegations: touch", `UPDATE delegations SET last_used_at = $2 WHERE id = $1`,
		id, s.db.ts(at))
}

// ListExpired uses the partial index delegations_expiry (migration 0012).
func (s delegations) ListExpired(ctx context.Context, now time.Time, limit int) ([]store.Delegation, error) {
	const op = "delegations: list expired"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+delegationColumns+` FROM delegations
WHERE revoked_at IS NULL AND expires_at <= $1 ORDER BY expires_at, created_at DESC, id LIMIT $2`, s.db.ts(now), limit)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanDelegation)
}

func (s delegations) Withhold(ctx context.Context, id string, scopes []string) error {
	return s.db.execOne(ctx, "delegations: withhold", `UPDATE delegations SET withheld = $2 WHERE id = $1`,
		id, jsonList[string](scopes))
}

// GrantorsAt reads the provider's identities by their primary key's prefix and
// their delegations through delegations_grantor.
func (s delegations) GrantorsAt(ctx context.Context, providerID string, now time.Time) ([]string, error) {
	const op = "delegations: grantors at provider"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT DISTINCT d.grantor_id FROM delegations d
JOIN identities i ON i.user_id = d.grantor_id
WHERE i.provider_id = $1 AND d.revoked_at IS NULL AND d.expires_at > $2 ORDER BY d.grantor_id`, providerID, s.db.ts(now))
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanID)
}
