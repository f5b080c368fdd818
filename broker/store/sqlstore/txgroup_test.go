package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// holdForGroup holds SQLite's writer queue and starts the calls one after
// another, each of which runs one inGroupTx: the first one's work is taken by the
// group's leader, which then waits in the queue, and the others' wait for the
// next transaction. Then it lets the writer go and returns their errors in order.
func holdForGroup(t *testing.T, db *DB, calls ...func() error) []error {
	t.Helper()
	if !db.queue.enter(t.Context()) {
		t.Fatal("enter")
	}
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(func() { errs[i] = call() })
		waitFor(t, func() bool {
			db.group.mu.Lock()
			defer db.group.mu.Unlock()
			return len(db.group.pending) == i && db.group.leading
		})
	}
	db.queue.leave()
	wg.Wait()
	return errs
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("condition not met after 10 s")
		}
	}
}

// insertToken stores a live refresh token hashed hash in a group transaction,
// then fails with then if not nil.
func insertToken(db *DB, hash string, then error) func() error {
	return inGroup(db, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, insertRefresh, refreshTokens{db}.insertArgs(liveRefresh(hash, "fam-"+hash))...); err != nil {
			return err
		}
		return then
	})
}

// inGroup is a call of inGroupTx with fn.
func inGroup(db *DB, fn func(ctx context.Context, tx *sql.Tx) error) func() error {
	return func() error { return db.inGroupTx(context.Background(), fn) }
}

func stored(t *testing.T, db *DB, hash string) bool {
	t.Helper()
	_, err := db.RefreshTokens().GetByHash(t.Context(), []byte(hash))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// wantStored checks which of the tokens are stored.
func wantStored(t *testing.T, db *DB, want map[string]bool) {
	t.Helper()
	for hash, w := range want {
		if got := stored(t, db, hash); got != w {
			t.Errorf("token %q stored: %v, want %v", hash, got, w)
		}
	}
}

// TestGroupCommit_ConcurrentRotationsShareATransaction: rotations that queue
// while the writer is busy commit together in the next transaction, each one
// rotated once with its successor stored.
func TestGroupCommit_ConcurrentRotationsShareATransaction(t *testing.T) {
	db := openMigrated(t, sqliteURL(t))
	const n = 8
	var calls []func() error
	for i := range n {
		old := liveRefresh(fmt.Sprint("old-", i), fmt.Sprint("fam-", i))
		must(t, db.RefreshTokens().Create(t.Context(), old))
		calls = append(calls, func() error {
			_, err := db.RefreshTokens().Rotate(t.Context(), old.TokenHash, liveRefresh(fmt.Sprint("next-", i), "other"), sweepNow)
			return err
		})
	}
	before := db.group.batches.Load()
	for i, err := range holdForGroup(t, db, calls...) {
		if err != nil {
			t.Errorf("rotation %d: %v", i, err)
		}
	}
	// The leader's own transaction, then one for the seven that queued behind it.
	if got := db.group.batches.Load() - before; got != 2 {
		t.Errorf("%d rotations took %d transactions, want 2", n, got)
	}
	for i := range n {
		next, err := db.RefreshTokens().GetByHash(t.Context(), fmt.Appendf(nil, "next-%d", i))
		if err != nil || next.FamilyID != fmt.Sprint("fam-", i) {
			t.Errorf("successor %d: %+v, %v", i, next, err)
		}
		if old, err := db.RefreshTokens().GetByHash(t.Context(), fmt.Appendf(nil, "old-%d", i)); err != nil || old.RotatedAt.IsZero() {
			t.Errorf("old token %d not rotated: %+v, %v", i, old, err)
		}
	}
}

// TestGroupCommit_AFailureUndoesOnlyItsOwnWrites: in one group transaction, a
// caller whose work fails gets its error and leaves nothing; the others' work
// is committed.
func TestGroupCommit_AFailureUndoesOnlyItsOwnWrites(t *testing.T) {
	db := openMigrated(t, sqliteURL(t))
	refused := errors.New("refused after writing")
	errs := holdForGroup(t, db,
		insertToken(db, "leader", nil),
		insertToken(db, "before", nil),
		insertToken(db, "failing", refused),
		insertToken(db, "after", nil),
		insertToken(db, "before", nil), // a constraint violation: undone alone too
	)
	if errs[2] != refused {
		t.Errorf("the failing caller got %v, want its own error", errs[2])
	}
	if errs[4] == nil {
		t.Error("a duplicate token hash was accepted")
	}
	for _, i := range []int{0, 1, 3} {
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
		}
	}
	wantStored(t, db, map[string]bool{"leader": true, "before": true, "failing": false, "after": true})
}

// TestGroupCommit_ALostTransactionFailsEveryCaller: when the transaction
// itself is gone (SQLite rolls it back on an I/O error or a full disk; here a
// caller's ROLLBACK), every caller of the batch gets an error and nothing of
// the batch is stored, also what ran before; the next transaction works.
func TestGroupCommit_ALostTransactionFailsEveryCaller(t *testing.T) {
	db := openMigrated(t, sqliteURL(t))
	lost := errors.New("transaction lost")
	errs := holdForGroup(t, db,
		insertToken(db, "leader", nil),
		insertToken(db, "before", nil),
		inGroup(db, func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `ROLLBACK`); err != nil {
				return err
			}
			return lost
		}),
		insertToken(db, "after", nil),
	)
	if errs[0] != nil {
		t.Errorf("the leader's own transaction: %v", errs[0])
	}
	for _, i := range []int{1, 2, 3} {
		if errs[i] == nil {
			t.Errorf("caller %d of the lost transaction got no error", i)
		}
	}
	wantStored(t, db, map[string]bool{"leader": true, "before": false, "after": false})
	must(t, insertToken(db, "next", nil)())
	if !stored(t, db, "next") {
		t.Error("the transaction after the lost one stored nothing")
	}
}

// TestGroupCommit_ACallerThatGivesUpWritesNothing: a caller whose deadline
// passes while it waits for a group transaction returns at its deadline, and
// its work never runs.
func TestGroupCommit_ACallerThatGivesUpWritesNothing(t *testing.T) {
	db := openMigrated(t, sqliteURL(t))
	if !db.queue.enter(t.Context()) {
		t.Fatal("enter")
	}
	leader := make(chan error, 1)
	go func() { leader <- insertToken(db, "leader", nil)() }()
	waitFor(t, func() bool {
		db.group.mu.Lock()
		defer db.group.mu.Unlock()
		return len(db.group.pending) == 0 && db.group.leading
	})
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	err := db.inGroupTx(short, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, insertRefresh, refreshTokens{db}.insertArgs(liveRefresh("gave-up", "fam-gave-up"))...)
		return err
	})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the caller past its deadline got %v, want context.DeadlineExceeded", err)
	}
	db.queue.leave()
	must(t, <-leader)
	must(t, insertToken(db, "later", nil)())
	if stored(t, db, "gave-up") {
		t.Error("the work of a caller that gave up was stored")
	}
	if !stored(t, db, "leader") || !stored(t, db, "later") {
		t.Error("the others' work was not stored")
	}
}
