package sqlstore

import "testing"

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
