package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	auditlog "github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/store"
)

// A kill -9 loses only the audit events of the batch window (README: Audit
// durability), whatever the request traffic does (issue 14): an enqueued event
// reaches the database within the flush interval and one batch write even while
// request transactions hold every connection the pool may open (on SQLite, the
// one writer) and more requests queue for them. Before, the audit writer queued
// with the requests for a connection (database/sql hands a freed one to a random
// waiter) and its batch started hundreds of milliseconds late; tools/chaos found
// the loss (CHAOS_SEED=13077494876139212240).
func TestAuditFlushesWhilePoolIsBusy(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			db := openMigrated(t, url)
			db.SetMaxConns(6) // as tools/chaos runs a replica
			observer := openDB(t, url)

			const flush = 100 * time.Millisecond
			w, err := auditlog.Open(db.Audit(), slog.New(slog.DiscardHandler), auditlog.Options{FlushInterval: flush})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close(context.Background())
			// stored waits until the observer sees target's row.
			stored := func(target string) {
				t.Helper()
				start := time.Now()
				for {
					n, err := observer.Audit().Count(context.Background(), store.AuditFilter{Target: target}, 1)
					if err != nil {
						t.Fatal(err)
					}
					if n == 1 {
						return
					}
					if time.Since(start) > 10*time.Second {
						t.Fatalf("%s not stored after 10 s", target)
					}
					time.Sleep(2 * time.Millisecond)
				}
			}
			// One batch before the load, so that the probes time the wait for the
			// database, not the audit writer's first connection (on PostgreSQL it
			// connects at its first batch).
			w.Enqueue(auditlog.Event{Actor: "client:svc", Action: "token.issued", Target: "warm-up"})
			stored("warm-up")

			// Requests: four times as many as connections. On PostgreSQL each holds
			// its connection until the test ends, so an audit writer that queues
			// with them for one never writes: the test does not depend on how fast
			// the machine is. SQLite's one writer must turn over (the batch needs
			// its lock too): each request holds it for hold, and a batch queued
			// behind the 24 of them waits about 24 × hold for its turn.
			hold := time.Hour
			if db.dialect == sqliteDialect {
				hold = 50 * time.Millisecond
			}
			ctx, stopTraffic := context.WithCancel(context.Background())
			var traffic sync.WaitGroup
			var held sync.Map // error -> true: a request that failed other than by the stop
			for range 24 {
				traffic.Go(func() {
					for ctx.Err() == nil {
						err := db.InTx(ctx, func(store.Store) error {
							select {
							case <-time.After(hold):
							case <-ctx.Done():
							}
							return nil
						})
						if err != nil && !errors.Is(err, context.Canceled) {
							held.Store(err.Error(), true)
						}
					}
				})
			}
			defer func() { stopTraffic(); traffic.Wait() }()
			time.Sleep(150 * time.Millisecond) // the queue fills

			// Each probe: enqueue one event, time until the observer sees its row.
			const probes = 6
			var worst time.Duration
			for i := range probes {
				target := fmt.Sprint("probe-", i)
				start := time.Now()
				w.Enqueue(auditlog.Event{Actor: "client:svc", Action: "token.issued", Target: target})
				stored(target)
				d := time.Since(start)
				t.Logf("probe %d stored after %v", i, d.Round(time.Millisecond))
				worst = max(worst, d)
			}
			if st := db.pool.Stats(); st.WaitCount == 0 {
				t.Fatalf("pool stats %+v: no request waited for a connection, the load did not run", st)
			}
			held.Range(func(k, _ any) bool { t.Errorf("a request transaction failed: %v", k); return true })
			// On PostgreSQL, that each probe was stored at all while the requests
			// held every pool connection is the point. On SQLite: the flush interval,
			// then the write under way (up to hold) and one batch write of one row,
			// with room for a shared, loaded machine; a batch queued behind the
			// requests waited 1.2 s with a hold of 20 ms.
			if limit := flush + hold + 450*time.Millisecond; db.dialect == sqliteDialect && worst > limit {
				t.Fatalf("an enqueued event reached the database after %v, want within %v (flush interval %v)",
					worst.Round(time.Millisecond), limit, flush)
			}
		})
	}
}
