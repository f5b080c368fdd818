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
// which runs beside the writer and the readers and never waits for them.
//
// Copying is not enough: the WAL starts over from its beginning only when a
// write transaction begins with every frame already copied, and under steady
// writes a commit nearly always lands between the checkpointer's copy and the
// next transaction. The WAL then grew to the writer's backstop
// (writerCheckpointPages) and the commit that crossed it checkpointed, while every
// write waited: during a sweep about every half second, 50 to 80 ms each
// (BenchmarkRefreshRotate16DuringSweep: p99 60 ms, 44 ms with the turn below,
// against 17 ms without a sweep). So once the WAL holds walRestartPages
// and the checkpointer has copied it all, the checkpointer takes a turn on the
// writer connection and checkpoints there what was written since: no write can
// come between that and the next transaction, which starts the WAL over. The
// turn waits in the writer's queue like any write, and is short, as little is
// left to copy. https://www.sqlite.org/wal.html#ckpt
const (
	checkpointEvery       = 100 * time.Millisecond
	walRestartPages       = 1000
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
			// A failed one leaves the frames to the next.
			if frames, copied, err := db.checkpoint(ctx); err == nil && frames >= walRestartPages && copied == frames {
				_ = db.checkpointOnWriter(ctx)
			}
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

// checkpointOnWriter checkpoints on the writer connection in its turn, so that
// the next write transaction finds every frame copied and starts the WAL over.
func (db *DB) checkpointOnWriter(ctx context.Context) error {
	conn, err := db.writerConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close() // back to the pool
	var busy, frames, copied int
	return conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
}
