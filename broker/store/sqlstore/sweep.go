package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// A sweep deletes in batches so that it never holds the writer for long: one
// DELETE of a whole backlog held SQLite's write lock for 70 s over 1M expired
// refresh tokens (issue 14). What a batch of a given size costs depends on the
// table's indexes and on the load beside it (1,000 refresh tokens took half a
// second on a busy machine, while requests queued behind it), so the size is
// not fixed: a sweepPacer keeps each batch's time near sweepHold and, while
// requests write too, pauses between batches twice as long as the last one
// took.
const (
	// sweepBatch is the largest batch, and the first on PostgreSQL.
	sweepBatch = 1000
	// sweepMinBatch is the smallest, and the first on SQLite: below it a batch
	// costs mostly its own statement, and the sweep must still move on under any
	// load.
	sweepMinBatch = 50
	// sweepHold is the time one batch aims to hold the writer: a request
	// write that queues behind a batch waits about this long. The sweep's speed
	// hardly depends on it (the pause that follows a batch is as long, so the
	// sweep has the writer half the time either way), the requests' tail does:
	// at 20 ms, refresh rotation's p99 during a sweep of 1M rows was 2.8 times
	// its p99 without (SQLite, SCALE=0.1).
	sweepHold = 10 * time.Millisecond
	// sweepPause is the least pause between batches.
	sweepPause = time.Millisecond
)

// sweepPacer sizes a sweep's batches and the pauses between them. Only on
// SQLite (oneWriter) does a batch hold what every request write needs: on
// PostgreSQL a batch locks only the expired rows it deletes, which no request
// uses, so its batches stay at the largest size with sweepPause between them.
// Paced as SQLite's, a sweep of 1M expired refresh tokens got through half of
// them in 27 minutes on a busy machine (about 340 rows/s): its slow batches
// shrank to 50 rows and each waited as long again.
type sweepPacer struct {
	batch, least, most int
	oneWriter          bool
}

// newSweepPacer paces batches of least to most items. SQLite's sweeps start at
// the least: an item's cost is what its index pages cost to reach, which
// nothing tells before the first batch. Started at 1,000 refresh tokens, the
// first batch over a cold cache held the writer for 111 ms, and the halvings
// after it for 47, 30 and 13 ms, while 16 rotations queued behind each
// (BenchmarkRefreshRotate16DuringSweep); the maintenance pass starts a sweep
// anew every interval.
func newSweepPacer(oneWriter bool, least, most int) *sweepPacer {
	if oneWriter {
		return &sweepPacer{batch: least, least: least, most: most, oneWriter: true}
	}
	return &sweepPacer{batch: most, least: least, most: most}
}

// done records that the last batch held the writer for took, and whether
// requests wrote meanwhile (contended), and returns the pause before the next.
// A batch over sweepHold sizes the next to fit in it, at the rate this one
// went; one under a quarter of it doubles the next, up to the most. While
// requests write, the pause is twice the batch's time, so the sweep has the
// writer at most a third of the time however long its backlog, and the request
// writes that queued behind a batch go first instead of racing the next one:
// pausing only as long as the batch, the sweep of 1M rows halved refresh
// rotation's throughput and took its p99 to 2.8 times that without a sweep
// (SQLite, 16 connections). With no request writing, the sweep delays no one and
// goes on at once. took leaves out the wait for the writer: counting it shrank
// every batch to the least under steady request writes, and the sweep then fell
// behind the rows that expire meanwhile.
func (p *sweepPacer) done(took time.Duration, contended bool) time.Duration {
	if !p.oneWriter {
		return sweepPause
	}
	switch {
	case took > sweepHold:
		p.batch = max(p.least, int(int64(p.batch)*int64(sweepHold)/int64(took)))
	case took < sweepHold/4:
		p.batch = min(p.most, p.batch*2)
	}
	if !contended {
		return sweepPause
	}
	return max(sweepPause, 2*took)
}

// run calls batch with the pacer's size until it reports the last batch or an
// error, pausing after each as done says. batch says how long it held the
// writer, the wait for it left out; whether requests wrote meanwhile run learns
// from db's writer queue. If ctx ends during a pause, run returns ctx.Err()
// itself.
func (p *sweepPacer) run(ctx context.Context, db *DB, batch func(size int) (last bool, took time.Duration, err error)) error {
	for {
		entered := db.queue.entered()
		last, took, err := batch(p.batch)
		if err != nil || last {
			return err
		}
		contended := db.queue.entered() > entered+1 // +1: the batch's own entry
		t := time.NewTimer(p.done(took, contended))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// deleteExpired deletes the rows of table whose column is before t, in batches
// paced by a sweepPacer, until none is left or ctx ends, and returns how many it
// deleted. A batch picks the oldest rows through column's index (which it must
// have) and deletes them by their place in the table, SQLite's rowid or
// PostgreSQL's ctid, not by key: looking each row up again by its key was most of
// a PostgreSQL batch's time (26 of 44 ms for 1,000 rows). On PostgreSQL each
// batch also starts where the last one ended: a deleted row's index entry stays
// until VACUUM, and every batch stepped over those of all batches before it (13
// ms of that 44 after 400 batches, and growing). table and column are constants
// of the callers. Replicas sweeping PostgreSQL at once pick the same oldest rows:
// the later batch waits for the earlier, deletes fewer than asked and stops,
// leaving the rest to the replica that is ahead.
func (db *DB) deleteExpired(ctx context.Context, op, table, column string, t time.Time) (int64, error) {
	var total int64
	var from time.Time // PostgreSQL: where the next batch starts
	err := newSweepPacer(db.dialect == sqliteDialect, sweepMinBatch, sweepBatch).run(ctx, db,
		func(size int) (bool, time.Duration, error) {
			n, next, took, err := db.sweepBatch(ctx, op, table, column, size, t, from)
			total, from = total+n, next
			return n < int64(size), took, err
		})
	if err != nil && err == ctx.Err() { // ended during a pause; the batches wrap their own errors
		err = wrap(op, err)
	}
	return total, err
}

// sqliteSweep is the DELETE of one batch of deleteExpired on SQLite: up to
// batch rows of table whose column is before $1, oldest first (neither database
// takes DELETE … LIMIT).
func sqliteSweep(table, column string, batch int) string {
	return `DELETE FROM ` + table + ` WHERE rowid IN (SELECT rowid FROM ` + table +
		` WHERE ` + column + ` < $1 ORDER BY ` + column + ` LIMIT ` + strconv.Itoa(batch) + `)`
}

// postgresSweep is sqliteSweep on PostgreSQL, from $2 on if from: = ANY(ARRAY(…))
// makes it a TID scan, where IN (…) may join. It returns how many rows it deleted
// and the newest column value among them. The limit is written into the
// statement, not bound, so each size plans as a constant.
func postgresSweep(table, column string, batch int, from bool) string {
	cond := column + ` < $1`
	if from {
		cond += ` AND ` + column + ` >= $2`
	}
	return `WITH gone AS (DELETE FROM ` + table + ` WHERE ctid = ANY(ARRAY(SELECT ctid FROM ` + table +
		` WHERE ` + cond + ` ORDER BY ` + column + ` LIMIT ` + strconv.Itoa(batch) + `)) RETURNING ` + column +
		`) SELECT count(*), max(` + column + `) FROM gone`
}

// sweepBatch deletes up to size rows of table whose column is before t,
// oldest first, on PostgreSQL from from on (zero: the oldest), and returns how
// many it deleted, where the next batch starts, and how long the statement
// held its connection.
func (db *DB) sweepBatch(ctx context.Context, op, table, column string, size int, t, from time.Time) (int64, time.Time, time.Duration, error) {
	if db.dialect == sqliteDialect {
		n, took, err := db.execHeld(ctx, op, sqliteSweep(table, column, size), db.ts(t))
		return n, from, took, err
	}
	args := []any{db.ts(t)}
	if !from.IsZero() {
		args = append(args, db.ts(from))
	}
	var n int64
	next := from
	took, err := db.held(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, postgresSweep(table, column, size, !from.IsZero()), args...).Scan(&n, tsd(&next))
	})
	if err != nil {
		return 0, from, took, wrap(op, err)
	}
	return n, cmp.Or(next, from), took, nil
}

// InBatches runs fn over [0, n) in ranges, each in a transaction of its own,
// paced as deleteExpired paces its batches: on SQLite a range is sized to hold
// the one writer about sweepHold, from one item up to most, and while requests
// write a pause follows it. The session sweep ended 50 sessions a transaction
// back to back, each holding the writer for tens of milliseconds at 1M
// sessions and 10M refresh tokens, and refresh rotation's p99 during it was 2.5
// times its p99 without (SCALE=1.0). Inside a transaction it runs fn once over
// the whole range, there.
func (db *DB) InBatches(ctx context.Context, n, most int, fn func(tx store.Store, from, to int) error) error {
	if db.tx != nil {
		return db.InTx(ctx, func(tx store.Store) error { return fn(tx, 0, n) })
	}
	if n == 0 {
		return nil
	}
	from := 0
	return newSweepPacer(db.dialect == sqliteDialect, 1, most).run(ctx, db, func(size int) (bool, time.Duration, error) {
		to := min(n, from+size)
		var began time.Time
		err := db.InTx(ctx, func(tx store.Store) error {
			began = time.Now()
			return fn(tx, from, to)
		})
		from = to
		return to == n, time.Since(began), err // from BEGIN to COMMIT: the wait for the writer left out
	})
}

// execHeld runs query on a connection of the writing pool, as execCount does,
// and says how long the statement held it (see held).
func (db *DB) execHeld(ctx context.Context, op, query string, args ...any) (int64, time.Duration, error) {
	var res sql.Result
	took, err := db.held(ctx, func(q querier) (err error) {
		res, err = q.ExecContext(ctx, query, args...)
		return err
	})
	n, err := affected(op, res, err)
	return n, took, err
}

// held runs fn on a connection of the writing pool (inside InTx, its
// transaction) and says how long fn held it, not counting the wait for it (on
// SQLite, the wait for the one writer).
func (db *DB) held(ctx context.Context, fn func(q querier) error) (time.Duration, error) {
	if db.tx != nil {
		start := time.Now()
		err := fn(db.tx)
		return time.Since(start), err
	}
	conn, err := db.writerConn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close() // back to the pool
	start := time.Now()
	err = fn(conn)
	return time.Since(start), err
}

// writerConn takes a connection of the writing pool in its turn in the queue
// (on SQLite the one writer, held until the caller closes it).
func (db *DB) writerConn(ctx context.Context) (*sql.Conn, error) {
	if !db.queue.enter(ctx) {
		return nil, ctx.Err()
	}
	defer db.queue.leave()
	return db.pool.Conn(ctx)
}
