package sqlstore

import (
	"context"
	"sync/atomic"
)

// writerQueue lines up the callers of SQLite's one writer connection in the
// order they came. database/sql hands a freed connection to a random waiter
// (connRequestSet.TakeRandom), so with one connection some callers waited many
// turns while others went straight in: refresh rotation from 16 goroutines had
// a p50 of 1.9 ms and a p99 of 11.7 ms (BenchmarkRefreshRotate16; 2.6 and
// 4.6 ms in turn). A caller enters the queue before it asks the pool for the
// connection and leaves once the pool has answered (the connection done with,
// or held by its rows or its transaction), so at most one caller waits inside
// database/sql and the connection goes round in the order of entry: a channel
// serves its blocked senders first in, first out. Nil on PostgreSQL, whose
// pool has a connection for each request.
type writerQueue struct {
	turn    chan struct{}
	entries atomic.Int64 // calls of enter so far
}

func newWriterQueue() *writerQueue { return &writerQueue{turn: make(chan struct{}, 1)} }

// enter waits for the caller's turn and reports whether it came before ctx
// ended; only then must the caller leave. On a nil queue it returns true at
// once.
func (q *writerQueue) enter(ctx context.Context) bool {
	if q == nil {
		return true
	}
	q.entries.Add(1)
	select {
	case q.turn <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// entered is how many times enter was called so far (0 on a nil queue): a
// sweep compares it across a batch to learn whether requests wrote meanwhile.
func (q *writerQueue) entered() int64 {
	if q == nil {
		return 0
	}
	return q.entries.Load()
}

// leave ends the turn enter gave.
func (q *writerQueue) leave() {
	if q != nil {
		<-q.turn
	}
}
