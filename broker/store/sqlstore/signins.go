package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse/gatehouse/broker/store"
)

type signIns struct{ db *DB }

// evictSessions deletes a user's sessions beyond the newest $3 others than the
// new session $2 (DOS-12). NOT IN with LIMIT reads the same on both databases.
const evictSessions = `DELETE FROM sessions WHERE user_id = $1 AND id <> $2 AND id NOT IN (
	SELECT id FROM sessions WHERE user_id = $1 AND id <> $2 ORDER BY created_at DESC, id DESC LIMIT $3)
RETURNING id`

// Record makes a sign-in's writes one transaction: one commit instead of two
// or three, and no session without its login record.
func (s signIns) Record(ctx context.Context, x store.Session, login store.Identity, maxPerUser int) ([]string, error) {
	const op = "sign-ins: record"
	var evicted []string
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, sessionInsert, s.db.sessionArgs(x)...); err != nil {
			return err
		}
		if login.ProviderID != "" {
			res, err := tx.ExecContext(ctx, identityRecordLogin, s.db.recordLoginArgs(login)...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return fmt.Errorf("identity not linked: %w", store.ErrNotFound)
			}
		}
		if maxPerUser <= 0 {
			return nil
		}
		// Counting first keeps the common case (a few sessions) to one cheap
		// indexed read; the DELETE runs only past the cap.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE user_id = $1`, x.UserID).Scan(&n); err != nil {
			return err
		}
		if n <= maxPerUser {
			return nil
		}
		rows, err := tx.QueryContext(ctx, evictSessions, x.UserID, x.ID, maxPerUser-1)
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
