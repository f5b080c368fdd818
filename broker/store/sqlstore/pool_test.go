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

// The PostgreSQL connections stay within their cap under concurrent load (issue
// 14: "the connection pool must stay within a configured cap"), as PostgreSQL
// itself counts them (pg_stat_activity): the requests' pool and the audit
// writer's connection together.
func TestPostgresPoolStaysWithinItsCap(t *testing.T) {
	url := pgtest.URL(t)
	db := openMigrated(t, url)
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
	// they queue for the 3 of the pool, while audit batches are written on the
	// fourth.
	const callers = 32
	var wg sync.WaitGroup
	errs := make(chan error, callers+1)
	wg.Go(func() {
		for i := range 20 {
			e := store.AuditEvent{Time: time.Now(), Action: "token.issued", Target: "probe"}
			if err := db.Audit().(store.AuditBatches).AppendBatch(ctx, e); err != nil {
				errs <- err
				return
			}
			if i == 0 {
				if _, err := db.batches.ExecContext(ctx, `SELECT pg_sleep(0.2)`); err != nil {
					errs <- err
					return
				}
			}
		}
	})
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
	if st := db.pool.Stats(); st.MaxOpenConnections != maxConns-1 || st.WaitCount == 0 {
		t.Fatalf("pool stats %+v: want the cap %d less the audit writer's and callers that waited for it", st, maxConns)
	}
	if st := db.batches.Stats(); st.MaxOpenConnections != 1 || st.OpenConnections != 1 {
		t.Fatalf("audit writer's pool stats %+v: want its one connection, open", st)
	}
}

// Open caps a PostgreSQL pool by default: a hung database must not make every
// waiting request open a connection of its own. The audit writer's connection
// is one of the cap's.
func TestPostgresPoolHasADefaultCap(t *testing.T) {
	db := openDB(t, pgtest.URL(t))
	if got, audit := db.pool.Stats().MaxOpenConnections, db.batches.Stats().MaxOpenConnections; got+audit != DefaultMaxConns || audit != 1 {
		t.Fatalf("pool cap %d and the audit writer's %d, want %d together, 1 of them the audit writer's", got, audit, DefaultMaxConns)
	}
	// At least 2, one for each.
	db.SetMaxConns(1)
	if got := db.pool.Stats().MaxOpenConnections; got != 1 {
		t.Fatalf("SetMaxConns(1): pool cap %d, want 1 (and the audit writer's)", got)
	}
}

// A transaction holds a connection; preparing a statement inside it must not wait
// for another, or transactions filling the capped pool would wait on each other
// for ever (the storetest races of 50 sign-ins did, at the default cap of 20).
func TestPostgresTransactionNeverWaitsForASecondConnection(t *testing.T) {
	db := openMigrated(t, pgtest.URL(t))
	db.SetMaxConns(2) // the pool's one, and the audit writer's
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
