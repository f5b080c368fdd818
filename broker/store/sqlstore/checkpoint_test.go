package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSQLiteCheckpointsInTheBackground: the writer's commits leave the WAL to
// the checkpointer (wal_autocheckpoint is far above what the writes below add),
// which copies it into the database file on its own: in WAL mode only a
// checkpoint writes that file, so its growth shows the checkpointer ran. Close
// stops it.
func TestSQLiteCheckpointsInTheBackground(t *testing.T) {
	url := sqliteURL(t)
	path := strings.TrimPrefix(url, "sqlite:")
	db := openMigrated(t, url)
	ctx := t.Context()
	if _, _, err := db.checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, path)
	for i := range 400 {
		must(t, db.RefreshTokens().Create(ctx, liveRefresh(fmt.Sprint("cp-", i), fmt.Sprint("fam-", i))))
	}
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, path) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("the database file stayed at %d bytes for 10 s after 400 commits: no checkpoint ran", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	frames, copied, err := db.checkpoint(ctx)
	if err != nil || copied != frames {
		t.Fatalf("checkpoint: %d of %d frames copied, %v", copied, frames, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.checkpointsDone:
	default:
		t.Fatal("Close returned with the checkpointer still running")
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestSQLiteCheckpointOnWriterStartsTheWALOver: a WAL that a commit after the
// last copy keeps from starting over (as under steady writes) starts over at
// the first write after the writer's turn; and the turn waits in the writer's
// queue like any write.
func TestSQLiteCheckpointOnWriterStartsTheWALOver(t *testing.T) {
	db := openMigrated(t, sqliteURL(t))
	ctx := t.Context()
	// The test checkpoints by hand: a background checkpoint in flight when the
	// last write begins would hold the read locks the WAL's restart needs (it
	// does not come between the two in the server, where one goroutine runs
	// both, but here it would, now and then: CI saw it).
	db.stopCheckpoints()
	// A reader's snapshot, taken before the writes, keeps the checkpoint from
	// copying them, as a commit during a copy does under steady writes; the
	// write after it then finds frames left to copy and keeps the WAL going.
	reader, err := db.read.Conn(ctx)
	must(t, err)
	_, err = reader.ExecContext(ctx, `BEGIN`)
	must(t, err)
	var n int
	must(t, reader.QueryRowContext(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&n))
	// Under walRestartPages, so that the checkpointer's loop leaves the turn to
	// the test.
	for i := range 60 {
		must(t, db.RefreshTokens().Create(ctx, liveRefresh(fmt.Sprint("cp-", i), fmt.Sprint("fam-", i))))
	}
	grown, copied, err := db.checkpoint(ctx)
	must(t, err)
	if copied >= grown {
		t.Fatalf("checkpoint copied %d of %d frames beside a reader that needs them", copied, grown)
	}
	must(t, db.RefreshTokens().Create(ctx, liveRefresh("between", "fam-between")))
	_, err = reader.ExecContext(ctx, `COMMIT`)
	must(t, err)
	must(t, reader.Close())

	// Held queue: the turn waits, and gives up with its context.
	if !db.queue.enter(ctx) {
		t.Fatal("enter")
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err = db.checkpointOnWriter(short)
	cancel()
	db.queue.leave()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("turn with the queue held: %v, want it to wait until its deadline", err)
	}

	must(t, db.checkpointOnWriter(ctx))
	must(t, db.RefreshTokens().Create(ctx, liveRefresh("after", "fam-after")))
	frames, _, err := db.checkpoint(ctx)
	must(t, err)
	if frames >= grown {
		t.Errorf("WAL at %d frames after the turn and one write, had %d: it did not start over", frames, grown)
	}
}

// TestSQLiteCheckpointAndRestart: the checkpointer's loop takes the writer's
// turn (checkpointOnWriter) only once the WAL is past walRestartPages and all
// copied, after copying again what came meanwhile; and the next write starts
// the WAL over.
func TestSQLiteCheckpointAndRestart(t *testing.T) {
	db := openMigrated(t, sqliteURL(t))
	ctx := t.Context()
	db.stopCheckpoints() // the test runs the loop's step by hand
	// turnTaken runs checkpointAndRestart with the writer's queue held, and
	// reports whether it waited there for a turn.
	turnTaken := func() bool {
		if !db.queue.enter(ctx) {
			t.Fatal("enter")
		}
		defer db.queue.leave()
		start := time.Now()
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		db.checkpointAndRestart(short)
		return time.Since(start) >= 100*time.Millisecond
	}
	must(t, db.RefreshTokens().Create(ctx, liveRefresh("first", "fam-first")))
	if turnTaken() {
		t.Fatal("a short WAL took the writer's turn")
	}
	var grown int
	for i := 0; grown < walRestartPages; i++ {
		must(t, db.RefreshTokens().Create(ctx, liveRefresh(fmt.Sprint("cp-", i), fmt.Sprint("fam-", i))))
		if i%50 == 0 {
			var busy, copied int
			must(t, db.read.QueryRowContext(ctx, `PRAGMA wal_checkpoint(NOOP)`).Scan(&busy, &grown, &copied))
		}
	}
	if !turnTaken() {
		t.Fatalf("a WAL of %d frames, all copied, did not take the writer's turn", grown)
	}
	db.checkpointAndRestart(ctx)
	must(t, db.RefreshTokens().Create(ctx, liveRefresh("after", "fam-after")))
	frames, _, err := db.checkpoint(ctx)
	must(t, err)
	if frames >= grown {
		t.Errorf("WAL at %d frames after the turn and one write, had %d: it did not start over", frames, grown)
	}
}
