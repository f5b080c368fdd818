package sqlstore

import "testing"

// TestSweepPacer: on SQLite's one writer, batches that take longer than sweepHold shrink, down to
// sweepMinBatch; quick ones grow back, up to sweepBatch; while requests write,
// the pause after a batch is twice as long as the batch took, never under
// sweepPause; with none writing, it is sweepPause.
func TestSweepPacer(t *testing.T) {
	p := newSweepPacer(true)
	if p.batch != sweepBatch {
		t.Fatalf("first batch %d, want %d", p.batch, sweepBatch)
	}
	slow := 10 * sweepHold
	var sizes []int
	for range 10 {
		if pause := p.done(slow, true); pause != 2*slow {
			t.Errorf("pause after a %v batch beside request writes = %v, want twice as long", slow, pause)
		}
		sizes = append(sizes, p.batch)
	}
	if sizes[0] != sweepBatch/2 || sizes[len(sizes)-1] != sweepMinBatch {
		t.Errorf("slow batches shrank as %v, want halving from %d down to %d", sizes, sweepBatch/2, sweepMinBatch)
	}
	// Within the band between a quarter of sweepHold and sweepHold: unchanged.
	if pause := p.done(sweepHold/2, false); pause != sweepPause {
		t.Errorf("pause after a batch with no request writing = %v, want %v", pause, sweepPause)
	}
	if p.batch != sweepMinBatch {
		t.Errorf("a batch within the band changed the size to %d", p.batch)
	}
	for range 10 {
		if pause := p.done(0, true); pause != sweepPause {
			t.Errorf("pause after an instant batch = %v, want %v", pause, sweepPause)
		}
	}
	if p.batch != sweepBatch {
		t.Errorf("quick batches grew to %d, want back to %d", p.batch, sweepBatch)
	}
}

// TestSweepPacerPostgres: on PostgreSQL, where a batch holds no lock a request
// waits for, slow batches neither shrink nor pause as long as they took.
func TestSweepPacerPostgres(t *testing.T) {
	p := newSweepPacer(false)
	for range 10 {
		if pause := p.done(10*sweepHold, true); pause != sweepPause {
			t.Errorf("pause after a slow batch = %v, want %v", pause, sweepPause)
		}
	}
	if p.batch != sweepBatch {
		t.Errorf("slow batches changed the size to %d, want %d", p.batch, sweepBatch)
	}
}
