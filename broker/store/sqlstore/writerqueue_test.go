package sqlstore

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// TestWriterQueueServesInOrder: callers that queue for the writer get it in the
// order they came, which database/sql's own wait (a random waiter) does not give.
// synctest.Wait makes "came" exact: each caller is parked in the queue before
// the next one starts.
func TestWriterQueueServesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newWriterQueue()
		q.enter(t.Context()) // the write under way
		const callers = 16
		served := make(chan int, callers)
		for i := range callers {
			go func() {
				if !q.enter(context.Background()) {
					t.Error("enter without a deadline failed")
					return
				}
				served <- i
				q.leave()
			}()
			synctest.Wait()
		}
		q.leave()
		for want := range callers {
			if got := <-served; got != want {
				t.Fatalf("caller %d was served in turn %d", got, want)
			}
		}
	})
}

// TestWriterQueueLeavesOnDeadline: a caller whose deadline passes in the queue
// gives up without a turn, and the queue goes on serving the others.
func TestWriterQueueLeavesOnDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newWriterQueue()
		q.enter(t.Context())
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if q.enter(ctx) {
			t.Fatal("entered while the turn was taken")
		}
		q.leave()
		if !q.enter(t.Context()) {
			t.Fatal("the queue did not serve the next caller")
		}
		q.leave()
	})
}

// TestSQLiteWritesWaitInTheQueue: every way a write reaches SQLite's writer — a
// statement, a statement that returns rows, a transaction, a sweep's batch —
// waits in the writer queue, so none can overtake another. With the queue held,
// each fails at its deadline and writes nothing; released, each goes through.
func TestSQLiteWritesWaitInTheQueue(t *testing.T) {
	db := openMigrated(t, sqliteURL(t))
	expired := liveRefresh("expired", "fam-expired")
	expired.ExpiresAt = sweepNow.Add(-time.Hour)
	if err := db.RefreshTokens().Create(t.Context(), expired); err != nil {
		t.Fatal(err)
	}
	code := store.AuthCode{CodeHash: []byte("code"), GrantID: "g", ClientID: "c", UserID: "u",
		Scopes: []string{"openid"}, ExpiresAt: sweepNow.Add(time.Minute)}
	if err := db.Codes().Create(t.Context(), code); err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"statement", func(ctx context.Context) error {
			return db.RefreshTokens().Create(ctx, liveRefresh("new", "fam-new"))
		}},
		{"statement returning rows", func(ctx context.Context) error {
			_, err := db.Codes().Redeem(ctx, code.CodeHash, sweepNow)
			return err
		}},
		{"transaction", func(ctx context.Context) error {
			_, err := db.RefreshTokens().Rotate(ctx, expired.TokenHash, liveRefresh("next", "fam-expired"), sweepNow.Add(-2*time.Hour))
			return err
		}},
		{"InTx", func(ctx context.Context) error {
			return db.InTx(ctx, func(tx store.Store) error {
				return tx.RefreshTokens().Create(ctx, liveRefresh("in-tx", "fam-tx"))
			})
		}},
		{"sweep batch", func(ctx context.Context) error {
			_, err := db.RefreshTokens().DeleteExpired(ctx, sweepNow)
			return err
		}},
	}
	db.queue.enter(t.Context())
	for _, w := range writes {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		err := w.run(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with the queue held: got %v, want it to wait until its deadline", w.name, err)
		}
	}
	// Nothing was written meanwhile.
	for _, hash := range []string{"new", "next", "in-tx"} {
		if _, err := db.RefreshTokens().GetByHash(t.Context(), []byte(hash)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("refresh token %q: got %v, want not found", hash, err)
		}
	}
	if _, err := db.RefreshTokens().GetByHash(t.Context(), expired.TokenHash); err != nil {
		t.Errorf("the expired token was swept while the queue was held: %v", err)
	}
	db.queue.leave()
	for _, w := range writes {
		if err := w.run(t.Context()); err != nil {
			t.Errorf("%s after the queue was released: %v", w.name, err)
		}
	}
}

// TestWriterQueueFirstGoesAhead: callers that enter first get the writer before
// the callers of enter already waiting, in the order they came, and those then
// keep theirs (the audit writer's batches wait only for the write under way).
func TestWriterQueueFirstGoesAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newWriterQueue()
		q.enter(t.Context()) // the write under way
		served := make(chan string, 5)
		for _, c := range []struct {
			name  string
			first bool
		}{{"a", false}, {"b", false}, {"first-1", true}, {"c", false}, {"first-2", true}} {
			go func() {
				if q.wait(context.Background(), c.first) {
					served <- c.name
					q.leave()
				}
			}()
			synctest.Wait()
		}
		q.leave()
		for _, want := range []string{"first-1", "first-2", "a", "b", "c"} {
			if got := <-served; got != want {
				t.Fatalf("served %s, want %s", got, want)
			}
		}
	})
}
