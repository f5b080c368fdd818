package sqlstore

import (
	"context"
	"slices"
	"sync"
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
// database/sql and the connection goes round in the order of entry. The audit
// writer's batches enter first (wait): they wait only for the write under
// way, so a kill -9 loses no more than the flush interval's events whatever
// queues for the writer. Nil on PostgreSQL, whose pool has a connection for each
// request.
type writerQueue struct {
	entries atomic.Int64 // calls of enter so far

	mu      sync.Mutex
	held    bool
	first   []chan struct{} // waiters that enter first, in order; closed to hand over the turn
	waiting []chan struct{} // enter's
}

func newWriterQueue() *writerQueue { return new(writerQueue) }

// enter waits for the caller's turn and reports whether it came before ctx
// ended; only then must the caller leave. On a nil queue it returns true at
// once.
func (q *writerQueue) enter(ctx context.Context) bool { return q.wait(ctx, false) }

// wait is enter, ahead of every caller of enter still waiting if first.
func (q *writerQueue) wait(ctx context.Context, first bool) bool {
	if q == nil {
		return true
	}
	q.entries.Add(1)
	q.mu.Lock()
	if !q.held {
		q.held = true
		q.mu.Unlock()
		return true
	}
	turn := make(chan struct{})
	if first {
		q.first = append(q.first, turn)
	} else {
		q.waiting = append(q.waiting, turn)
	}
	q.mu.Unlock()
	select {
	case <-turn:
		return true
	case <-ctx.Done():
	}
	q.mu.Lock()
	n := len(q.first) + len(q.waiting)
	q.first = slices.DeleteFunc(q.first, func(c chan struct{}) bool { return c == turn })
	q.waiting = slices.DeleteFunc(q.waiting, func(c chan struct{}) bool { return c == turn })
	handed := len(q.first)+len(q.waiting) == n // not found: leave gave it the turn meanwhile
	q.mu.Unlock()
	if handed {
		q.leave() // pass it on
	}
	return false
}

// entered is how many times enter was called so far (0 on a nil queue): a
// sweep compares it across a batch to learn whether requests wrote meanwhile.
func (q *writerQueue) entered() int64 {
	if q == nil {
		return 0
	}
	return q.entries.Load()
}

// leave ends the turn enter gave, handing it to the next caller.
func (q *writerQueue) leave() {
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var next chan struct{}
	switch {
	case len(q.first) > 0:
		next, q.first = q.first[0], q.first[1:]
	case len(q.waiting) > 0:
		next, q.waiting = q.waiting[0], q.waiting[1:]
	default:
		q.held = false
		return
	}
	close(next)
}
