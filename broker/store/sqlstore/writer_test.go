package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// Tests of issue 14's "one writer for SQLite; pruning that never stalls".

func sqliteURL(t *testing.T) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
}

// sweepNow is the clock of these tests: seeded tokens expire before it, live
// ones after.
var sweepNow = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

func liveRefresh(hash, family string) store.RefreshToken {
	return store.RefreshToken{
		TokenHash: []byte(hash), FamilyID: family, GrantID: "g-" + family, ClientID: "c", UserID: "u",
		SessionID: "s", Scopes: []string{"openid"}, CreatedAt: sweepNow, ExpiresAt: sweepNow.Add(24 * time.Hour),
	}
}

// busyError reports whether err is SQLite's "database is locked" (SQLITE_BUSY),
// which the one writer must keep from ever reaching a caller.
func busyError(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "database is locked") || strings.Contains(err.Error(), "SQLITE_BUSY"))
}

// TestSQLiteOneWriter_Settings reads back what README promises: WAL, synchronous
// NORMAL (a commit survives kill -9), one write connection, and query_only read
// connections (a write misrouted to them fails instead of contending).
func TestSQLiteOneWriter_Settings(t *testing.T) {
	db := openMigrated(t, sqliteURL(t))
	for _, pool := range []struct {
		name      string
		db        *sql.DB
		queryOnly string
	}{{"writer", db.pool, "0"}, {"read", db.read, "1"}} {
		for _, tc := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"synchronous", "1"}, // NORMAL
			{"busy_timeout", "5000"},
			{"wal_autocheckpoint", "10000"}, // checkpoints run in the background
			{"query_only", pool.queryOnly},
		} {
			var got string
			if err := pool.db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s pool: PRAGMA %s = %s, want %s", pool.name, tc.pragma, got, tc.want)
			}
		}
	}
	if n := db.pool.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer pool MaxOpenConnections = %d, want 1", n)
	}
	if _, err := db.read.ExecContext(t.Context(), `DELETE FROM refresh_tokens`); err == nil {
		t.Error("a write on the read pool succeeded, want it refused (query_only)")
	}
}

// TestSQLiteOneWriter_WritesQueueBehindATransaction: a write transaction held
// for long (as a sweep's single DELETE held one for 70 s) made every other write
// wait in SQLite's busy loop and fail with "database is locked" after
// busy_timeout. Behind the one writer they wait their turn and succeed.
func TestSQLiteOneWriter_WritesQueueBehindATransaction(t *testing.T) {
	db := openMigrated(t, sqliteURL(t))
	ctx := t.Context()
	must(t, db.RefreshTokens().Create(ctx, liveRefresh("old", "f")))

	held := make(chan struct{})
	writersDone := make(chan struct{})
	txErr := make(chan error, 1)
	go func() {
		txErr <- db.InTx(ctx, func(tx store.Store) error {
			if err := tx.Consents().Put(ctx, store.Consent{UserID: "u", ClientID: "held", Scopes: []string{"openid"}}); err != nil {
				return err
			}
			entered := db.queue.entered() // the writers below enter after held
			close(held)
			// Hold the write lock until both writers below wait for the writer,
			// one in database/sql, the other in the writer queue behind it, which
			// the first holds until it has the connection (or, without one
			// writer, have given up).
			for db.pool.Stats().WaitCount < 1 || db.queue.entered() < entered+2 {
				select {
				case <-writersDone:
					return nil
				case <-time.After(time.Millisecond):
				}
			}
			return nil
		})
	}()
	<-held
	var wg sync.WaitGroup
	var rotateErr, appendErr error
	wg.Go(func() {
		_, rotateErr = db.RefreshTokens().Rotate(ctx, []byte("old"), liveRefresh("next", "f"), sweepNow)
	})
	wg.Go(func() {
		appendErr = db.Audit().Append(ctx, store.AuditEvent{Time: sweepNow, Action: "test.queued", Details: []byte("{}")})
	})
	wg.Wait()
	close(writersDone)
	if err := <-txErr; err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if rotateErr != nil || appendErr != nil {
		t.Fatalf("writes behind a transaction: Rotate: %v; Append: %v; want both to wait and succeed", rotateErr, appendErr)
	}
	if _, err := db.RefreshTokens().GetByHash(ctx, []byte("next")); err != nil {
		t.Errorf("the rotated token was not stored: %v", err)
	}
}

// TestSQLiteOneWriter_ConcurrentWritesNeverBusy: goroutines rotating refresh
// tokens, granting consents, recording sign-ins' audit batches and replay keys
// at once on one SQLite file, with readers beside them: no error at all.
func TestSQLiteOneWriter_ConcurrentWritesNeverBusy(t *testing.T) {
	db := openMigrated(t, sqliteURL(t))
	ctx := t.Context()
	const workers, rounds = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*(rounds*5+1))
	for w := range workers {
		wg.Go(func() {
			family := fmt.Sprintf("f%d", w)
			cur := family + "-0"
			if err := db.RefreshTokens().Create(ctx, liveRefresh(cur, family)); err != nil {
				errs <- err
				return
			}
			for i := range rounds {
				next := fmt.Sprintf("%s-%d", family, i+1)
				if _, err := db.RefreshTokens().Rotate(ctx, []byte(cur), liveRefresh(next, family), sweepNow); err != nil {
					errs <- fmt.Errorf("rotate: %w", err)
				}
				cur = next
				c := store.Consent{UserID: fmt.Sprintf("u%d", i), ClientID: family, Scopes: []string{"openid"}, CreatedAt: sweepNow}
				if err := db.Consents().Put(ctx, c); err != nil {
					errs <- fmt.Errorf("consent: %w", err)
				}
				batch := make([]store.AuditEvent, 8)
				for j := range batch {
					batch[j] = store.AuditEvent{Time: sweepNow, Action: "test.load", Target: family, Details: []byte("{}")}
				}
				if err := db.Audit().Append(ctx, batch...); err != nil {
					errs <- fmt.Errorf("audit: %w", err)
				}
				if err := db.Replay().Remember(ctx, next, sweepNow.Add(time.Hour), sweepNow); err != nil {
					errs <- fmt.Errorf("replay: %w", err)
				}
				if _, err := db.RefreshTokens().GetByHash(ctx, []byte(cur)); err != nil {
					errs <- fmt.Errorf("read: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("busy=%v: %v", busyError(err), err)
	}
	if n, err := db.Count(ctx, "refresh_tokens"); err != nil || n != workers*(rounds+1) {
		t.Errorf("refresh tokens = %d (%v), want %d", n, err, workers*(rounds+1))
	}
	if n, err := db.Count(ctx, "audit_events"); err != nil || n != workers*rounds*8 {
		t.Errorf("audit events = %d (%v), want %d", n, err, workers*rounds*8)
	}
}

// seedExpired inserts n refresh tokens that expired before sweepNow, in one
// statement: family "seed-1" expires first, "seed-n" last. Their grant, user
// and session are random, as real ones are: a delete then updates a page of
// each of those indexes at random, as the sweep does in production, where
// constant values would keep it on the last page of each.
func seedExpired(t testing.TB, db *DB, n int) {
	t.Helper()
	var q string
	if db.dialect == sqliteDialect {
		q = `WITH RECURSIVE i(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM i WHERE i < $1)
INSERT INTO refresh_tokens (token_hash, family_id, grant_id, client_id, user_id, session_id, scopes, audience,
	delegation_id, expires_at)
SELECT randomblob(32), 'seed-' || i, hex(randomblob(16)), 'c', hex(randomblob(16)), hex(randomblob(16)), '[]', '', '',
	strftime('%Y-%m-%dT%H:%M:%S.000000Z', $2 + i, 'unixepoch') FROM i`
	} else {
		q = `INSERT INTO refresh_tokens (token_hash, family_id, grant_id, client_id, user_id, session_id, scopes, audience,
	delegation_id, expires_at)
SELECT decode(md5('seed-' || i), 'hex'), 'seed-' || i, md5(random()::text), 'c', md5(random()::text),
	md5(random()::text), '[]', '', '', to_timestamp($2 + i) FROM generate_series(1, $1::int) AS i`
	}
	start := sweepNow.Add(-time.Duration(n+1) * time.Second).Unix()
	if _, err := db.pool.ExecContext(t.Context(), q, n, start); err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// familyExists reports whether a refresh token of family is stored.
func familyExists(ctx context.Context, db *DB, family string) (bool, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM refresh_tokens WHERE family_id = $1`, family).Scan(&n)
	return n > 0, err
}

// TestSweep_DeletesInBatches: a sweep's rows go in committed batches, oldest
// first, not in one statement that holds the write lock to the end (issue 14:
// 70 s over 1M rows on SQLite). Stopped once the first batch is visible, it has
// left the newest rows for the next sweep.
func TestSweep_DeletesInBatches(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := openMigrated(t, b.url(t))
			const n = 50 * sweepBatch
			seedExpired(t, db, n)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := db.RefreshTokens().DeleteExpired(ctx, sweepNow)
				done <- err
			}()
			var sweepErr error
		watch:
			for {
				select {
				case sweepErr = <-done:
					break watch // finished before a batch was seen: the last check fails
				default:
				}
				first, err := familyExists(t.Context(), db, "seed-1")
				if err != nil {
					t.Fatal(err)
				}
				if !first {
					cancel()
					sweepErr = <-done
					break
				}
			}
			if sweepErr != nil && !errors.Is(sweepErr, context.Canceled) {
				t.Fatalf("DeleteExpired: %v", sweepErr)
			}
			last, err := familyExists(t.Context(), db, fmt.Sprintf("seed-%d", n))
			if err != nil {
				t.Fatal(err)
			}
			if !last {
				t.Error("the newest expired token went in the same commit as the oldest, want batches")
			}
		})
	}
}

// TestSweep_UnderLoadNoWriteFails: a sweep clearing 200k expired refresh
// tokens while rotations and token writes run: none of them fails, every
// expired row is gone after, every live row is still there.
func TestSweep_UnderLoadNoWriteFails(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 200k rows")
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := openMigrated(t, b.url(t))
			ctx := t.Context()
			const expired = 200 * sweepBatch
			seedExpired(t, db, expired)

			sweepDone := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var writeErrs []error
			var created []string
			for w := range 2 {
				wg.Go(func() {
					family := fmt.Sprintf("live%d", w)
					cur := family + "-0"
					var errs []error
					mine := []string{cur}
					if err := db.RefreshTokens().Create(ctx, liveRefresh(cur, family)); err != nil {
						errs = append(errs, err)
					}
					for i := 1; ; i++ {
						select {
						case <-sweepDone:
							mu.Lock()
							writeErrs = append(writeErrs, errs...)
							created = append(created, mine...)
							mu.Unlock()
							return
						default:
						}
						next := fmt.Sprintf("%s-%d", family, i)
						if _, err := db.RefreshTokens().Rotate(ctx, []byte(cur), liveRefresh(next, family), sweepNow); err != nil {
							errs = append(errs, fmt.Errorf("rotate: %w", err))
						} else {
							cur = next
							mine = append(mine, next)
						}
						other := fmt.Sprintf("%s-other-%d", family, i)
						if err := db.RefreshTokens().Create(ctx, liveRefresh(other, "other-"+family)); err != nil {
							errs = append(errs, fmt.Errorf("create: %w", err))
						} else {
							mine = append(mine, other)
						}
					}
				})
			}
			deleted, err := db.RefreshTokens().DeleteExpired(ctx, sweepNow)
			close(sweepDone)
			wg.Wait()
			if err != nil {
				t.Fatalf("DeleteExpired: %v", err)
			}
			for _, err := range writeErrs {
				t.Errorf("write during the sweep (busy=%v): %v", busyError(err), err)
			}
			if deleted != expired {
				t.Errorf("DeleteExpired deleted %d, want %d", deleted, expired)
			}
			var left int
			if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM refresh_tokens WHERE expires_at < $1`,
				db.ts(sweepNow)).Scan(&left); err != nil {
				t.Fatal(err)
			}
			if left != 0 {
				t.Errorf("%d expired tokens left after the sweep", left)
			}
			for _, h := range created {
				if _, err := db.RefreshTokens().GetByHash(ctx, []byte(h)); err != nil {
					t.Errorf("live token %s: %v", h, err)
				}
			}
			if n, err := db.Count(ctx, "refresh_tokens"); err != nil || n != len(created) {
				t.Errorf("refresh tokens left = %d (%v), want the %d live ones", n, err, len(created))
			}
		})
	}
}

// TestSessionSweepUsesIndexes: the session sweep's query reads the expiry and
// last-seen indexes, not every session (issue 14: 2.4 s per sweep at 1M rows).
func TestSessionSweepUsesIndexes(t *testing.T) {
	const list = `SELECT id FROM sessions WHERE ` + expiredSessions + ` LIMIT $3`
	t.Run("sqlite", func(t *testing.T) {
		db := openMigrated(t, sqliteURL(t))
		rows, err := db.read.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+list, db.ts(sweepNow), db.ts(sweepNow), 500)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		for _, want := range []string{"USING INDEX sessions_expires", "USING INDEX sessions_last_seen"} {
			if !strings.Contains(text, want) {
				t.Errorf("plan does not say %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, "SCAN sessions") {
			t.Errorf("plan scans the sessions table:\n%s", text)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		db := openMigrated(t, backends[1].url(t))
		// An empty table is cheapest to scan: forbid that to see whether the
		// indexes serve the query at all.
		tx, err := db.pool.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(t.Context(), `SET LOCAL enable_seqscan = off`); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.QueryContext(t.Context(), `EXPLAIN `+list, sweepNow, sweepNow, 500)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		for _, want := range []string{"sessions_expires", "sessions_last_seen"} {
			if !strings.Contains(text, want) {
				t.Errorf("plan does not use %s:\n%s", want, text)
			}
		}
		if strings.Contains(text, "Seq Scan") {
			t.Errorf("plan scans the sessions table:\n%s", text)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRefreshRotate16 rotates refresh tokens from 16 goroutines, each its
// own family, as the load test's 16 connections do, and reports the p50, p99
// and slowest of one rotation (issue 14's target for the p99: ≤ 20 ms on both
// databases). The database runs as the server runs it, checkpoints included.
func BenchmarkRefreshRotate16(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) { rotate16(b, db) })
}

// BenchmarkRefreshRotate16DuringSweep is BenchmarkRefreshRotate16 while the
// maintenance sweep deletes a backlog of expired refresh tokens beside it, and
// reports the rows it deleted per second too: issue 14 asks that a request's
// p99 during a sweep be at most twice its p99 without one, and this is the
// store's share of that, without HTTP and the load generator on the same CPUs.
// Compare its p99 with BenchmarkRefreshRotate16's, run in the same sitting; the
// backlog (300k rows) outlasts a run of a few seconds.
func BenchmarkRefreshRotate16DuringSweep(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) {
		seedExpired(b, db, 300_000)
		b.ResetTimer()
		ctx, stop := context.WithCancel(b.Context())
		swept := make(chan int64, 1)
		start := time.Now()
		go func() {
			n, _ := db.RefreshTokens().DeleteExpired(ctx, sweepNow)
			swept <- n
		}()
		took := rotate16(b, db)
		stop()
		n := <-swept
		if len(took) > 0 {
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "swept-rows/s")
		}
	})
}

// rotate16 runs the rotations of BenchmarkRefreshRotate16, reports their p50,
// p99 and slowest, and returns each one's time.
func rotate16(b *testing.B, db *DB) []time.Duration {
	var mu sync.Mutex
	var took []time.Duration
	var worker atomic.Int64
	b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		family := fmt.Sprintf("bench%d", worker.Add(1))
		cur := family + "-0"
		if err := db.RefreshTokens().Create(b.Context(), liveRefresh(cur, family)); err != nil {
			b.Error(err)
			return
		}
		var mine []time.Duration
		for i := 1; pb.Next(); i++ {
			next := fmt.Sprintf("%s-%d", family, i)
			start := time.Now()
			if _, err := db.RefreshTokens().Rotate(b.Context(), []byte(cur), liveRefresh(next, family), sweepNow); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
			cur = next
		}
		mu.Lock()
		took = append(took, mine...)
		mu.Unlock()
	})
	if len(took) > 0 {
		slices.Sort(took)
		b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
	}
	return took
}
