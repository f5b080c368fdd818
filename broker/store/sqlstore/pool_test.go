package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/pgtest"
)

// The PostgreSQL pool stays within its cap under concurrent load (issue 14: "the
// connection pool must stay within a configured cap"), as PostgreSQL itself counts
// the connections (pg_stat_activity).
func TestPostgresPoolStaysWithinItsCap(t *testing.T) {
	url := pgtest.URL(t)
	db := openDB(t, url)
	const maxConns = 4
	db.SetMaxConns(maxConns)

	observer, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close()
	observer.SetMaxOpenConns(1)
	ctx := context.Background()
	count := func() int {
		var n int
		if err := observer.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Error(err)
		}
		return n
	}

	// 32 callers each hold a connection for a while; the observer samples as
	// they queue for the 4.
	const callers = 32
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := db.pool.ExecContext(ctx, `SELECT pg_sleep(0.02)`); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	most := 0
	for sampling := true; sampling; {
		select {
		case <-done:
			sampling = false
		default:
			most = max(most, count())
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if most > maxConns {
		t.Fatalf("PostgreSQL saw %d connections of a pool capped at %d", most, maxConns)
	}
	if most < 2 {
		t.Fatalf("PostgreSQL saw at most %d connection under %d concurrent callers: the load did not run", most, callers)
	}
	if st := db.pool.Stats(); st.MaxOpenConnections != maxConns || st.WaitCount == 0 {
		t.Fatalf("pool stats %+v: want the cap %d and callers that waited for it", st, maxConns)
	}
}

// Open caps a PostgreSQL pool by default: a hung database must not make every
// waiting request open a connection of its own.
func TestPostgresPoolHasADefaultCap(t *testing.T) {
	db := openDB(t, pgtest.URL(t))
	if got := db.pool.Stats().MaxOpenConnections; got != DefaultMaxConns {
		t.Fatalf("pool cap %d, want %d", got, DefaultMaxConns)
	}
}

// A transaction holds a connection; preparing a statement inside it must not wait
// for another, or transactions filling the capped pool would wait on each other
// for ever (the storetest races of 50 sign-ins did, at the default cap of 20).
func TestPostgresTransactionNeverWaitsForASecondConnection(t *testing.T) {
	db := openMigrated(t, pgtest.URL(t))
	db.SetMaxConns(1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := db.InTx(ctx, func(tx store.Store) error {
		st, err := tx.(*DB).stmt(ctx, `SELECT count(*) FROM users WHERE id = $1`)
		if err != nil {
			return err
		}
		var n int
		return st.QueryRowContext(ctx, "nobody").Scan(&n)
	})
	if err != nil {
		t.Fatalf("a statement prepared in a transaction with the pool's one connection: %v", err)
	}
	// Nor the sign-in transaction, whose statements are all prepared.
	if _, err := db.SignIns().Record(ctx, store.SignIn{Used: []store.ReplayKey{{Key: "k1", ExpiresAt: time.Now().Add(time.Hour)}}, Session: store.Session{ID: "s1", UserID: "u1", TokenHash: []byte("hash"), ExpiresAt: time.Now().Add(time.Hour),
		CreatedAt: time.Now(), LastSeenAt: time.Now()}}); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("sign-in record with the pool's one connection: %v", err)
	}
}
