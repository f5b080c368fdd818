package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

type codes struct{ db *DB }

const codeColumns = `code_hash, grant_id, client_id, user_id, session_id, redirect_uri, scopes, audience,
	code_challenge, nonce, auth_time, acr, amr, delegation_id, created_at, expires_at, used_at, dpop_jkt`

func scanCode(s rowScanner) (store.AuthCode, error) {
	var c store.AuthCode
	err := s.Scan(bd(&c.CodeHash), &c.GrantID, &c.ClientID, &c.UserID, &c.SessionID, &c.RedirectURI, ld(&c.Scopes),
		&c.Audience, &c.CodeChallenge, &c.Nonce, tsd(&c.AuthTime), &c.ACR, ld(&c.AMR), &c.DelegationID,
		tsd(&c.CreatedAt), tsd(&c.ExpiresAt), tsd(&c.UsedAt), &c.DPoPJKT)
	return c, err
}

func (s codes) Create(ctx context.Context, c store.AuthCode) error {
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO auth_codes (`+codeColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		c.CodeHash, c.GrantID, c.ClientID, c.UserID, c.SessionID, c.RedirectURI, jsonList[string](c.Scopes),
		c.Audience, c.CodeChallenge, c.Nonce, s.db.ts(c.AuthTime), c.ACR, jsonList[string](c.AMR), c.DelegationID,
		s.db.ts(c.CreatedAt), s.db.ts(c.ExpiresAt), s.db.ts(c.UsedAt), c.DPoPJKT)
	if err != nil {
		return wrap("codes: create", err)
	}
	return nil
}

// Redeem claims the code with one conditional UPDATE: of concurrent redemptions,
// on any replica, only one finds used_at still NULL.
func (s codes) Redeem(ctx context.Context, codeHash []byte, now time.Time) (store.AuthCode, error) {
	const op = "codes: redeem"
	c, err := scanCode(s.db.sql.QueryRowContext(ctx, `UPDATE auth_codes SET used_at = $2
WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2
RETURNING `+codeColumns, codeHash, s.db.ts(now)))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.AuthCode{}, wrap(op, err)
	}
	// Not claimed: tell a replayed code from a missing or expired one.
	c, err = scanCode(s.db.sql.QueryRowContext(ctx, `SELECT `+codeColumns+` FROM auth_codes WHERE code_hash = $1`,
		codeHash))
	switch {
	case err != nil:
		return store.AuthCode{}, wrap(op, err)
	case !c.UsedAt.IsZero():
		return c, fmt.Errorf("%s: %w", op, store.ErrAlreadyUsed)
	default:
		return store.AuthCode{}, fmt.Errorf("%s: code expired: %w", op, store.ErrNotFound)
	}
}

func (s codes) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	return s.db.deleteExpired(ctx, "codes: delete expired", "auth_codes", "expires_at", before)
}
