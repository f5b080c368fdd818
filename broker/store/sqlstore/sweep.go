package sqlstore

import (
	"context"
	"strconv"
	"time"
)

// sweepBatch bounds the rows one statement of a sweep deletes. One DELETE of a
// whole backlog held SQLite's write lock for 70 s over 1M expired refresh
// tokens (issue 14); a batch this size holds it for milliseconds.
const sweepBatch = 1000

// sweepPause is how long a sweep waits between batches: the writer is released
// after each batch, and the pause lets the request writes that queued behind
// it go first instead of racing the next batch.
const sweepPause = time.Millisecond

// deleteExpired deletes the rows of table whose column is before t, at most
// sweepBatch per statement, until none is left or ctx ends, and returns how
// many it deleted. The IN (SELECT … LIMIT) form reads the same on both
// databases (neither accepts DELETE … LIMIT); key is the table's primary key,
// column must be indexed. table and columns are constants of the callers.
// Replicas sweeping PostgreSQL at once pick the same oldest rows: the later
// batch waits for the earlier, deletes fewer than sweepBatch and stops, leaving
// the rest to the replica that is ahead.
func (db *DB) deleteExpired(ctx context.Context, op, table, key, column string, t time.Time) (int64, error) {
	// ORDER BY column: read the oldest through column's index. Without it
	// PostgreSQL scans the table for a condition that most rows match, and each
	// batch would reread the dead rows of the ones before it.
	query := `DELETE FROM ` + table + ` WHERE ` + key + ` IN (SELECT ` + key + ` FROM ` + table +
		` WHERE ` + column + ` < $1 ORDER BY ` + column + ` LIMIT ` + strconv.Itoa(sweepBatch) + `)`
	var total int64
	for {
		n, err := db.execCount(ctx, op, query, db.ts(t))
		total += n
		if err != nil || n < sweepBatch {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, wrap(op, ctx.Err())
		case <-time.After(sweepPause):
		}
	}
}
