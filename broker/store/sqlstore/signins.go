package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/broker/store"
)

type signIns struct{ db *DB }

// evictSessions deletes a user's sessions beyond the newest $3 others than the
// new session $2 (DOS-12). NOT IN with LIMIT reads the same on both databases.
const evictSessions = `DELETE FROM sessions WHERE user_id = $1 AND id <> $2 AND id NOT IN (
	SELECT id FROM sessions WHERE user_id = $1 AND id <> $2 ORDER BY created_at DESC, id DESC LIMIT $3)
RETURNING id`

// Record makes a sign-in's writes one transaction: one commit instead of one
// per write, and no session without its login record or with a used key. Its
// statements are prepared: parsing them cost SQLite more than running them.
func (s signIns) Record(ctx context.Context, in store.SignIn) ([]string, error) {
	const op = "sign-ins: record"
	x := in.Session
	var evicted []string
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		stmt := func(query string) (*sql.Stmt, error) { return s.db.txStmt(ctx, tx, query) }
		exec := func(query string, args ...any) (int64, error) {
			st, err := stmt(query)
			if err != nil {
				return 0, err
			}
			res, err := st.ExecContext(ctx, args...)
			if err != nil {
				return 0, err
			}
			return res.RowsAffected()
		}
		// The keys first: a used one ends the transaction before anything
		// else is written.
		for _, k := range in.Used {
			n, err := exec(replayUse, k.Key, s.db.ts(k.ExpiresAt), s.db.ts(x.CreatedAt))
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("a replay-cache key: %w", store.ErrAlreadyUsed)
			}
		}
		if in.RequireEnabledProvider {
			// Shared lock: sign-ins at one provider do not wait for each
			// other, only for (or block) a disable or removal of it.
			var enabled bool
			err := tx.QueryRowContext(ctx, `SELECT enabled FROM providers WHERE id = $1`+s.db.dialect.forShare, x.ProviderID).Scan(&enabled)
			if errors.Is(err, sql.ErrNoRows) || err == nil && !enabled {
				return fmt.Errorf("provider %q disabled or removed: %w", x.ProviderID, store.ErrDisabled)
			}
			if err != nil {
				return err
			}
		}
		if _, err := exec(sessionInsert, s.db.sessionArgs(x)...); err != nil {
			return err
		}
		if in.Login.ProviderID != "" {
			if n, err := exec(identityRecordLogin, s.db.recordLoginArgs(in.Login)...); err != nil {
				return err
			} else if n == 0 {
				return fmt.Errorf("identity not linked: %w", store.ErrNotFound)
			}
		}
		if in.Profile.ID != "" {
			if n, err := exec(userProfileUpdate, s.db.profileArgs(in.Profile)...); err != nil {
				return err
			} else if n == 0 {
				return fmt.Errorf("user: %w", store.ErrNotFound)
			}
		}
		if in.MaxPerUser <= 0 {
			return nil
		}
		// Counting first keeps the common case (a few sessions) to one cheap
		// indexed read; the DELETE runs only past the cap.
		count, err := stmt(`SELECT count(*) FROM sessions WHERE user_id = $1`)
		if err != nil {
			return err
		}
		var n int
		if err := count.QueryRowContext(ctx, x.UserID).Scan(&n); err != nil {
			return err
		}
		if n <= in.MaxPerUser {
			return nil
		}
		rows, err := tx.QueryContext(ctx, evictSessions, x.UserID, x.ID, in.MaxPerUser-1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			evicted = append(evicted, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return evicted, nil
}
