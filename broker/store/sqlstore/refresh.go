package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

type refreshTokens struct{ db *DB }

const refreshColumns = `token_hash, family_id, grant_id, client_id, user_id, session_id, scopes, audience,
	delegation_id, auth_time, acr, amr, created_at, expires_at, rotated_at, revoked_at, dpop_jkt, cnf_x5t_s256`

func scanRefresh(s rowScanner) (store.RefreshToken, error) {
	var t store.RefreshToken
	err := s.Scan(bd(&t.TokenHash), &t.FamilyID, &t.GrantID, &t.ClientID, &t.UserID, &t.SessionID, ld(&t.Scopes),
		&t.Audience, &t.DelegationID, tsd(&t.AuthTime), &t.ACR, ld(&t.AMR), tsd(&t.CreatedAt), tsd(&t.ExpiresAt), tsd(&t.RotatedAt),
		tsd(&t.RevokedAt), &t.DPoPJKT, &t.X5TS256)
	return t, err
}

const insertRefresh = `INSERT INTO refresh_tokens (` + refreshColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`

func (s refreshTokens) insertArgs(t store.RefreshToken) []any {
	return []any{t.TokenHash, t.FamilyID, t.GrantID, t.ClientID, t.UserID, t.SessionID, jsonList[string](t.Scopes),
		t.Audience, t.DelegationID, s.db.ts(t.AuthTime), t.ACR, jsonList[string](t.AMR), s.db.ts(t.CreatedAt), s.db.ts(t.ExpiresAt),
		s.db.ts(t.RotatedAt), s.db.ts(t.RevokedAt), t.DPoPJKT, t.X5TS256}
}

func (s refreshTokens) Create(ctx context.Context, t store.RefreshToken) error {
	if _, err := s.db.sql.ExecContext(ctx, insertRefresh, s.insertArgs(t)...); err != nil {
		return wrap("refresh tokens: create", err)
	}
	return nil
}

// GetByHash returns the token whatever its state; the caller checks expiry,
// rotation and revocation.
func (s refreshTokens) GetByHash(ctx context.Context, tokenHash []byte) (store.RefreshToken, error) {
	t, err := scanRefresh(s.db.queryRow(ctx, `SELECT `+refreshColumns+` FROM refresh_tokens
WHERE token_hash = $1`, tokenHash))
	if err != nil {
		return store.RefreshToken{}, wrap("refresh tokens: get by hash", err)
	}
	return t, nil
}

// rotateClaim marks an unused, live token rotated and returns it.
const rotateClaim = `UPDATE refresh_tokens SET rotated_at = $2
WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $2
RETURNING ` + refreshColumns

// rotateInOne is the claim and the insert in one PostgreSQL statement (a
// statement is atomic on its own): the insert reads the family and the grant
// from the claimed row and inserts nothing when no row was claimed. The casts
// say what the parameters are, which an INSERT's SELECT list does not.
const rotateInOne = `WITH claimed AS (` + rotateClaim + `),
inserted AS (INSERT INTO refresh_tokens (` + refreshColumns + `)
	SELECT $3::bytea, family_id, grant_id, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text,
		$10::timestamptz, $11::text, $12::text, $13::timestamptz, $14::timestamptz, $15::timestamptz,
		$16::timestamptz, $17::text, $18::text FROM claimed)
SELECT ` + refreshColumns + ` FROM claimed`

// Rotate claims the old token with a conditional UPDATE, as Codes.Redeem does, and
// inserts next in the same transaction. next joins the old token's family and
// grant whatever its FamilyID and GrantID: a family never leaves its grant, so
// the grant's index finds it (an index of the family's own cost every rotation
// an entry, and on SQLite a page written to the WAL). On PostgreSQL the usual
// case is one statement, one round trip where a transaction takes four; a token
// that is not claimable takes the transaction below, which tells a replay from a
// dead token.
func (s refreshTokens) Rotate(ctx context.Context, oldHash []byte, next store.RefreshToken, now time.Time) (store.RefreshToken, error) {
	const op = "refresh tokens: rotate"
	var old store.RefreshToken
	if s.db.dialect == postgresDialect {
		insert := s.insertArgs(next)
		args := append([]any{oldHash, s.db.ts(now), insert[0]}, insert[3:]...) // the family and grant come from the claimed row
		old, err := scanRefresh(s.db.queryRow(ctx, rotateInOne, args...))
		if err == nil {
			return old, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return store.RefreshToken{}, wrap(op, err)
		}
	}
	var reused bool
	err := s.db.inGroupTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Prepared: on SQLite the one writer is held from BEGIN to COMMIT, and
		// parsing these two statements took longer than running them.
		claim, err := s.db.txStmt(ctx, tx, rotateClaim)
		if err != nil {
			return err
		}
		old, err = scanRefresh(claim.QueryRowContext(ctx, oldHash, s.db.ts(now)))
		if err == nil {
			next.FamilyID, next.GrantID = old.FamilyID, old.GrantID
			insert, err := s.db.txStmt(ctx, tx, insertRefresh)
			if err != nil {
				return err
			}
			_, err = insert.ExecContext(ctx, s.insertArgs(next)...)
			return err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// FOR UPDATE: concurrent replays revoke the family one after another
		// rather than deadlock over its rows.
		old, err = scanRefresh(tx.QueryRowContext(ctx, `SELECT `+refreshColumns+` FROM refresh_tokens
WHERE token_hash = $1`+s.db.dialect.forUpdate, oldHash))
		switch {
		case err != nil:
			return err
		case old.RotatedAt.IsZero():
			return store.ErrNotFound // revoked or expired
		}
		// RFC 9700 §4.14.2: a rotated token presented again means it was stolen;
		// revoke every token of the family, the one that replaced it included.
		reused = true
		_, err = tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $3
WHERE grant_id = $1 AND family_id = $2 AND revoked_at IS NULL`, old.GrantID, old.FamilyID, s.db.ts(now))
		return err
	})
	switch {
	case err != nil:
		return store.RefreshToken{}, wrap(op, err)
	case reused:
		return old, fmt.Errorf("%s: %w", op, store.ErrAlreadyUsed)
	}
	return old, nil
}

// Revoke marks the matching tokens revoked and returns how many were not already.
func (s refreshTokens) Revoke(ctx context.Context, f store.RefreshFilter, now time.Time) (int64, error) {
	const op = "refresh tokens: revoke"
	where := []string{"revoked_at IS NULL"}
	args := []any{s.db.ts(now)}
	// index is the predicate of the column's partial index (migration 0023),
	// written out so that the planners see the query implies it: SQLite never
	// infers it from a bound value, PostgreSQL not in a generic plan.
	for _, c := range []struct{ column, value, index string }{
		{"grant_id", f.GrantID, ""},
		{"user_id", f.UserID, ""},
		{"client_id", f.ClientID, ""},
		{"delegation_id", f.DelegationID, "delegation_id <> ''"},
	} {
		if c.value != "" {
			args = append(args, c.value)
			where = append(where, c.column+" = $"+strconv.Itoa(len(args)))
			if c.index != "" {
				where = append(where, c.index)
			}
		}
	}
	if f.SessionIDs != nil {
		if err := checkListed(op, len(f.SessionIDs)); err != nil {
			return 0, err
		}
		where = append(where, "session_id IN ("+paramList(len(args)+1, len(f.SessionIDs))+")")
		args = append(args, anys(f.SessionIDs)...)
	}
	if !f.IssuedBefore.IsZero() {
		args = append(args, s.db.ts(f.IssuedBefore))
		where = append(where, "created_at < $"+strconv.Itoa(len(args)))
	}
	if len(args) == 1 {
		// An empty filter would revoke every token of every user.
		return 0, fmt.Errorf("%s: empty filter", op)
	}
	return s.db.execCount(ctx, op, `UPDATE refresh_tokens SET revoked_at = $1 WHERE `+strings.Join(where, " AND "),
		args...)
}

func (s refreshTokens) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	return s.db.deleteExpired(ctx, "refresh tokens: delete expired", "refresh_tokens", "expires_at", before)
}
