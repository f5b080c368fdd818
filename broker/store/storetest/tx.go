package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// errAbort is what an InTx function returns to make it roll back.
var errAbort = errors.New("storetest: abort")

// writeAll makes one write to each of several aggregates through tx: a user, a
// session of it, a disabled provider p1 (which must exist at version 1), a
// revocation entry and an audit event. It also reads each write back through tx.
func writeAll(ctx context.Context, t *testing.T, tx store.Store) {
	t.Helper()
	must(t, "Users.Create", tx.Users().Create(ctx, newUser("u1")))
	must(t, "Sessions.Create", tx.Sessions().Create(ctx, newSession("s1", "u1")))
	p := newProvider("p1")
	p.Enabled = false
	must(t, "Providers.Update", tx.Providers().Update(ctx, p))
	must(t, "Revocations.Revoke", tx.Revocations().Revoke(ctx, at(time.Hour), at(2*time.Hour), "user:u1"))
	must(t, "Audit.Append", tx.Audit().Append(ctx, newEvent(1, "admin", "provider.disable", "p1")))
	// Reads inside the transaction see its writes (prepared statements too).
	if _, err := tx.Users().Get(ctx, "u1"); err != nil {
		t.Fatalf("Users.Get inside the transaction: %v", err)
	}
	if got, err := tx.Revocations().Latest(ctx, []string{"user:u1"}); err != nil || got.IsZero() {
		t.Fatalf("Revocations.Latest inside the transaction = %v, %v; want the entry", got, err)
	}
}

func testInTx(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Commit", func(t *testing.T) {
		s := open(t)
		must(t, "Providers.Create", s.Providers().Create(t.Context(), newProvider("p1")))
		must(t, "InTx", s.InTx(t.Context(), func(tx store.Store) error {
			writeAll(t.Context(), t, tx)
			return nil
		}))
		if _, err := s.Users().Get(t.Context(), "u1"); err != nil {
			t.Errorf("Users.Get after commit: %v", err)
		}
		if _, err := s.Sessions().Get(t.Context(), "s1"); err != nil {
			t.Errorf("Sessions.Get after commit: %v", err)
		}
		if p, err := s.Providers().Get(t.Context(), "p1"); err != nil || p.Enabled || p.Version != 2 {
			t.Errorf("provider after commit: enabled %v version %d (%v), want disabled at version 2", p.Enabled, p.Version, err)
		}
		if got, err := s.Revocations().Latest(t.Context(), []string{"user:u1"}); err != nil || !got.Equal(at(time.Hour)) {
			t.Errorf("Revocations.Latest after commit = %v, %v; want %v", got, err, at(time.Hour))
		}
		if events, err := s.Audit().List(t.Context(), store.AuditFilter{}); err != nil || len(events) != 1 {
			t.Errorf("audit after commit: %d events (%v), want 1", len(events), err)
		}
	})
	t.Run("Rollback", func(t *testing.T) {
		s := open(t)
		must(t, "Providers.Create", s.Providers().Create(t.Context(), newProvider("p1")))
		err := s.InTx(t.Context(), func(tx store.Store) error {
			writeAll(t.Context(), t, tx)
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("InTx = %v, want fn's error", err)
		}
		assertNothingWritten(t, s)
	})
	t.Run("RollbackAfterStoreError", func(t *testing.T) {
		// A failed statement inside the transaction (PostgreSQL then refuses
		// every further one) rolls everything back too.
		s := open(t)
		must(t, "Providers.Create", s.Providers().Create(t.Context(), newProvider("p1")))
		err := s.InTx(t.Context(), func(tx store.Store) error {
			writeAll(t.Context(), t, tx)
			return tx.Providers().Create(t.Context(), newProvider("p1"))
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("InTx = %v, want the Create's ErrConflict", err)
		}
		assertNothingWritten(t, s)
	})
	t.Run("Nested", func(t *testing.T) {
		s := open(t)
		must(t, "InTx", s.InTx(t.Context(), func(tx store.Store) error {
			must(t, "Create u1", tx.Users().Create(t.Context(), newUser("u1")))
			must(t, "nested InTx", tx.InTx(t.Context(), func(tx store.Store) error {
				return tx.Users().Create(t.Context(), newUser("u2"))
			}))
			// A failing nested InTx undoes only its own writes.
			err := tx.InTx(t.Context(), func(tx store.Store) error {
				must(t, "Create u3", tx.Users().Create(t.Context(), newUser("u3")))
				return errAbort
			})
			if !errors.Is(err, errAbort) {
				t.Errorf("nested InTx = %v, want its fn's error", err)
			}
			return tx.Users().Create(t.Context(), newUser("u4"))
		}))
		for id, want := range map[string]bool{"u1": true, "u2": true, "u3": false, "u4": true} {
			_, err := s.Users().Get(t.Context(), id)
			if got := err == nil; got != want || (err != nil && !errors.Is(err, store.ErrNotFound)) {
				t.Errorf("Users.Get(%s) after commit: %v, want stored %v", id, err, want)
			}
		}
	})
	t.Run("NestedRolledBackWithOuter", func(t *testing.T) {
		s := open(t)
		err := s.InTx(t.Context(), func(tx store.Store) error {
			must(t, "nested InTx", tx.InTx(t.Context(), func(tx store.Store) error {
				return tx.Users().Create(t.Context(), newUser("u1"))
			}))
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("InTx = %v, want fn's error", err)
		}
		if _, err := s.Users().Get(t.Context(), "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Users.Get after rollback: %v, want ErrNotFound", err)
		}
	})
}

// assertNothingWritten fails t unless every write of writeAll is absent from s.
func assertNothingWritten(t *testing.T, s store.Store) {
	t.Helper()
	if _, err := s.Users().Get(t.Context(), "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Users.Get after rollback: %v, want ErrNotFound", err)
	}
	if _, err := s.Sessions().Get(t.Context(), "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Sessions.Get after rollback: %v, want ErrNotFound", err)
	}
	if p, err := s.Providers().Get(t.Context(), "p1"); err != nil || !p.Enabled || p.Version != 1 {
		t.Errorf("provider after rollback: enabled %v version %d (%v), want enabled at version 1", p.Enabled, p.Version, err)
	}
	if got, err := s.Revocations().Latest(t.Context(), []string{"user:u1"}); err != nil || !got.IsZero() {
		t.Errorf("Revocations.Latest after rollback = %v, %v; want none", got, err)
	}
	if events, err := s.Audit().List(t.Context(), store.AuditFilter{}); err != nil || len(events) != 0 {
		t.Errorf("audit after rollback: %d events (%v), want none", len(events), err)
	}
}

func testInBatches(t *testing.T, open func(t *testing.T) store.Store) {
	// users creates the users u<from>..u<to-1> through tx.
	users := func(t *testing.T, tx store.Store, from, to int) {
		for i := from; i < to; i++ {
			must(t, "Users.Create", tx.Users().Create(t.Context(), newUser(fmt.Sprint("u", i))))
		}
	}
	stored := func(t *testing.T, s store.Store, n int) (got []bool) {
		for i := range n {
			_, err := s.Users().Get(t.Context(), fmt.Sprint("u", i))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			got = append(got, err == nil)
		}
		return got
	}
	t.Run("CoversEveryItemOnceInOrder", func(t *testing.T) {
		s := open(t)
		next := 0
		must(t, "InBatches", s.InBatches(t.Context(), 23, 4, func(tx store.Store, from, to int) error {
			if from != next || to <= from || to-from > 4 || to > 23 {
				t.Errorf("range [%d, %d) after %d, want one starting at %d of 1 to 4 items within 23", from, to, next, next)
			}
			next = to
			users(t, tx, from, to)
			return nil
		}))
		if next != 23 {
			t.Errorf("ranges ended at %d, want 23", next)
		}
		for i, ok := range stored(t, s, 23) {
			if !ok {
				t.Errorf("u%d not stored", i)
			}
		}
	})
	t.Run("StopsAtTheFirstErrorKeepingEarlierBatches", func(t *testing.T) {
		s := open(t)
		failAt := -1
		err := s.InBatches(t.Context(), 20, 5, func(tx store.Store, from, to int) error {
			users(t, tx, from, to)
			if to > 10 && failAt < 0 {
				failAt = from
				return errAbort
			}
			if failAt >= 0 {
				t.Errorf("range [%d, %d) run after the failed one", from, to)
			}
			return nil
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("InBatches = %v, want fn's error", err)
		}
		for i, ok := range stored(t, s, 20) {
			if want := i < failAt; ok != want {
				t.Errorf("u%d stored %v, want %v (the failed batch began at %d)", i, ok, want, failAt)
			}
		}
	})
	t.Run("InsideATransactionOneRange", func(t *testing.T) {
		s := open(t)
		var calls [][2]int
		err := s.InTx(t.Context(), func(tx store.Store) error {
			must(t, "InBatches", tx.InBatches(t.Context(), 7, 2, func(tx store.Store, from, to int) error {
				calls = append(calls, [2]int{from, to})
				users(t, tx, from, to)
				return nil
			}))
			return errAbort // the outer transaction's rollback undoes the batch
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("InTx = %v, want fn's error", err)
		}
		if len(calls) != 1 || calls[0] != [2]int{0, 7} {
			t.Errorf("ranges inside a transaction %v, want one: [0, 7)", calls)
		}
		for i, ok := range stored(t, s, 7) {
			if ok {
				t.Errorf("u%d stored although the outer transaction rolled back", i)
			}
		}
	})
	t.Run("NothingToDo", func(t *testing.T) {
		s := open(t)
		must(t, "InBatches", s.InBatches(t.Context(), 0, 5, func(store.Store, int, int) error {
			t.Error("fn called for no items")
			return nil
		}))
	})
}
