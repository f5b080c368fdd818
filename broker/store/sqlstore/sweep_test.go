package sqlstore

import (
	"fmt"
	"testing"
	"time"
)

// TestSweepPacer: on SQLite's one writer the first batch is the smallest;
// quick batches double it, up to sweepBatch; a batch that takes longer than
// sweepHold sizes the next to fit in sweepHold at its rate, not below
// sweepMinBatch; while requests write, the pause after a batch is twice as long
// as the batch took, never under sweepPause; with none writing, it is
// sweepPause.
func TestSweepPacer(t *testing.T) {
	p := newSweepPacer(true, sweepMinBatch, sweepBatch)
	if p.batch != sweepMinBatch {
		t.Fatalf("first batch %d, want %d", p.batch, sweepMinBatch)
	}
	var sizes []int
	for range 10 {
		if pause := p.done(0, true); pause != sweepPause {
			t.Errorf("pause after an instant batch = %v, want %v", pause, sweepPause)
		}
		sizes = append(sizes, p.batch)
	}
	if sizes[0] != 2*sweepMinBatch || sizes[len(sizes)-1] != sweepBatch {
		t.Errorf("quick batches grew as %v, want doubling from %d up to %d", sizes, 2*sweepMinBatch, sweepBatch)
	}
	slow := 4 * sweepHold
	if pause := p.done(slow, true); pause != 2*slow {
		t.Errorf("pause after a %v batch beside request writes = %v, want twice as long", slow, pause)
	}
	if p.batch != sweepBatch/4 {
		t.Errorf("after a batch four times over the hold the size is %d, want %d", p.batch, sweepBatch/4)
	}
	// Within the band between a quarter of sweepHold and sweepHold: unchanged.
	if pause := p.done(sweepHold/2, false); pause != sweepPause {
		t.Errorf("pause after a batch with no request writing = %v, want %v", pause, sweepPause)
	}
	if p.batch != sweepBatch/4 {
		t.Errorf("a batch within the band changed the size to %d", p.batch)
	}
	p.done(100*sweepHold, true)
	if p.batch != sweepMinBatch {
		t.Errorf("after a very slow batch the size is %d, want the least, %d", p.batch, sweepMinBatch)
	}
}

// TestSweepPacerPostgres: on PostgreSQL, where a batch holds no lock a request
// waits for, slow batches neither shrink nor pause as long as they took.
func TestSweepPacerPostgres(t *testing.T) {
	p := newSweepPacer(false, sweepMinBatch, sweepBatch)
	for range 10 {
		if pause := p.done(10*sweepHold, true); pause != sweepPause {
			t.Errorf("pause after a slow batch = %v, want %v", pause, sweepPause)
		}
	}
	if p.batch != sweepBatch {
		t.Errorf("slow batches changed the size to %d, want %d", p.batch, sweepBatch)
	}
}

// TestSweep_EveryBatchStartsWhereTheLastEnded: a sweep over more rows than a
// batch deletes every expired row and nothing else, when many rows expire at
// the same instant across the edge between two batches (on PostgreSQL each
// batch starts at the newest expiry the last one deleted).
func TestSweep_EveryBatchStartsWhereTheLastEnded(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := openMigrated(t, b.url(t))
			ctx := t.Context()
			const n = 2*sweepBatch + 500
			seedExpired(t, db, n)
			// Families 900 to 2,100 expire at once: whatever size the batches
			// take, one edge falls among them.
			tie := db.ts(sweepNow.Add(-time.Hour))
			if _, err := db.pool.ExecContext(ctx, `UPDATE refresh_tokens SET expires_at = $1
WHERE family_id IN (`+paramList(2, 1201)+`)`, append([]any{tie}, tieFamilies(900, 2100)...)...); err != nil {
				t.Fatal(err)
			}
			live := liveRefresh("live", "fam-live")
			must(t, db.RefreshTokens().Create(ctx, live))
			deleted, err := db.RefreshTokens().DeleteExpired(ctx, sweepNow)
			must(t, err)
			var left int
			must(t, db.pool.QueryRowContext(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&left))
			if deleted != n || left != 1 {
				t.Errorf("deleted %d of %d expired rows, %d rows left; want all deleted and the live one left", deleted, n, left)
			}
			if _, err := db.RefreshTokens().GetByHash(ctx, live.TokenHash); err != nil {
				t.Errorf("the live token: %v", err)
			}
		})
	}
}

// tieFamilies is seed-from … seed-to as query arguments.
func tieFamilies(from, to int) []any {
	var f []any
	for i := from; i <= to; i++ {
		f = append(f, fmt.Sprint("seed-", i))
	}
	return f
}
