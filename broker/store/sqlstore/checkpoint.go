package sqlstore

import (
	"context"
	"time"
)

// SQLite copies the WAL back into the database file in checkpoints. Left to
// itself it runs one in the commit that takes the WAL past wal_autocheckpoint
// pages (1,000 by default): that commit's request waits for the copy and its
// fsyncs, and every write queued for the one writer waits behind it, about
// every hundred refresh rotations under load. So the server checkpoints on a
// connection of its own (checkpointer) every checkpointEvery, in PASSIVE mode,
// which runs beside the writer and the readers and never waits for them; the
// writer's own checkpoint stays as a backstop at writerCheckpointPages, should
// the checkpointer fall behind (a reader holding an old snapshot can keep it
// from finishing). https://www.sqlite.org/wal.html#ckpt
const (
	checkpointEvery       = 100 * time.Millisecond
	writerCheckpointPages = 10000
)

// checkpoints runs checkpoint every checkpointEvery until stop is closed, then
// closes done.
func (db *DB) checkpoints(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _, _ = db.checkpoint(ctx) // a failed one leaves the frames to the next
			cancel()
		}
	}
}

// checkpoint copies what it can of the WAL into the database file without
// waiting for any reader or writer, and returns the WAL's frames and how many of
// them are now in the database file.
func (db *DB) checkpoint(ctx context.Context) (frames, copied int, err error) {
	var busy int
	err = db.checkpointer.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	return frames, copied, err
}
