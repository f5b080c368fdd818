package sqlstore

import (
	"context"
	"os"
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
	// catchUpPasses bounds the passes before a turn; turnFrames is what a pass
	// may find new and still be the last.
	catchUpPasses = 4
	turnFrames    = 100
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
			db.checkpointAndRestart(ctx)
			cancel()
		}
	}
}

// checkpointAndRestart checkpoints, and once the WAL is long and all copied,
// lets the writer start it over (checkpointOnWriter). Before that turn it
// flushes the database file and the WAL from here and copies again, until a
// pass finds little new: in the turn SQLite fsyncs both files, which flushes
// whatever reached them since their last fsync. A passive checkpoint that did
// not reach the WAL's end (under steady writes, nearly all) does not fsync the
// database file, so the turn flushed every page copied since the last turn, and
// the WAL's frames written while the checkpointer copied: it held the writer
// 15 to 25 ms every 100 to 150 ms under refresh load (a refresh's p99 is 20 to
// 35 ms). fsync(2) flushes a file's pages whichever descriptor wrote them.
func (db *DB) checkpointAndRestart(ctx context.Context) {
	// A failed one leaves the frames to the next.
	frames, copied, err := db.checkpoint(ctx)
	if err != nil || frames < walRestartPages || copied != frames {
		return
	}
	for range catchUpPasses {
		syncFiles(db.file+"-wal", db.file)
		more, copied, err := db.checkpoint(ctx)
		if err != nil || copied != more {
			return // a reader holds the newest frames: at the next tick
		}
		added := more - frames
		frames = more
		if added <= turnFrames {
			break
		}
	}
	_ = db.checkpointOnWriter(ctx)
}

// syncFiles fsyncs the files it can open; one it cannot is left to SQLite's
// own fsync.
func syncFiles(names ...string) {
	for _, name := range names {
		if f, err := os.Open(name); err == nil {
			_ = f.Sync()
			_ = f.Close()
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
