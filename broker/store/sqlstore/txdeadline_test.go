package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// TestTx_DeadlineIsReportedAsTheDeadline: a transaction whose context's
// deadline passes before it commits fails with an error that says so
// (context.DeadlineExceeded), not only database/sql's sql.ErrTxDone ("transaction
// has already been committed or rolled back"): database/sql rolls the
// transaction back itself at the deadline, and the web layer answers a request
// that ran out of time on the database with 503, anything unexplained with 500
// (found by tools/chaos: a sign-in callback after a slow IdP answered 500).
func TestTx_DeadlineIsReportedAsTheDeadline(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := openMigrated(t, b.url(t))
			outlive := func(ctx context.Context) {
				<-ctx.Done()
				// Let database/sql's watcher roll the transaction back first.
				time.Sleep(50 * time.Millisecond)
			}
			for name, run := range map[string]func(ctx context.Context) error{
				"InTx": func(ctx context.Context) error {
					return db.InTx(ctx, func(tx store.Store) error {
						if err := tx.Users().Create(ctx, store.User{ID: "u-intx", Email: "intx@example.test"}); err != nil {
							return err
						}
						outlive(ctx)
						return nil
					})
				},
				"inTx": func(ctx context.Context) error {
					return db.inTx(ctx, func(tx *sql.Tx) error {
						if _, err := tx.ExecContext(ctx, `DELETE FROM replay_cache WHERE id = 'none'`); err != nil {
							return err
						}
						outlive(ctx)
						return nil
					})
				},
			} {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
				err := run(ctx)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s past its deadline: %v, want context.DeadlineExceeded", name, err)
				}
			}
			if _, err := db.Users().Get(t.Context(), "u-intx"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the user written before the deadline: %v, want not stored", err)
			}
		})
	}
}
