package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// txGroup commits the short write transactions of concurrent callers on
// SQLite's one writer together: one transaction, each caller's work under a
// savepoint of its own (group commit). Refresh rotation at 16 connections spent
// about 70% of its latency waiting for the writer, and the writer's holder
// about half its turn waiting for a CPU, on two vCPUs shared with the load: each
// turn handed the writer to another goroutine, which had to be scheduled, and
// each transaction paid BEGIN, COMMIT and the WAL frames of the pages every
// rotation touches (the table's and the expiry and client indexes' last pages).
// One leader goroutine now runs whatever queued meanwhile in one turn.
//
// A caller's work is undone on its own failure (ROLLBACK TO its savepoint) and
// the others' goes on; if the transaction itself fails (the commit, or an
// error after which SQLite rolled the whole transaction back), every caller of
// the batch gets the error and nothing of the batch is stored. A caller whose
// context ends before its work starts withdraws it and returns at once; once
// started, the work runs to its end (a few hundred microseconds) and the
// caller waits for the outcome, because SQLite ends a statement interrupted by
// one caller's cancellation by rolling back everyone's transaction. The batch
// waits for the writer until the latest of its callers' deadlines.
type txGroup struct {
	pool  *sql.DB
	queue *writerQueue

	mu      sync.Mutex
	pending []*groupItem
	leading bool

	batches atomic.Int64 // transactions begun so far
}

// maxGroup bounds one transaction: about 0.2 ms of writer time per rotation.
const maxGroup = 32

// groupWait is the batch's deadline when no caller has one.
const groupWait = 10 * time.Second

const (
	itemPending int32 = iota
	itemWithdrawn
	itemRunning
)

type groupItem struct {
	ctx   context.Context
	fn    func(ctx context.Context, tx *sql.Tx) error
	state atomic.Int32
	err   error
	done  chan struct{} // closed once err is final
}

// run runs fn in the next group transaction and returns once it is committed
// or failed.
func (g *txGroup) run(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	it := &groupItem{ctx: ctx, fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, it)
	if !g.leading {
		g.leading = true
		go g.lead()
	}
	g.mu.Unlock()
	select {
	case <-it.done:
		return it.err
	case <-ctx.Done():
		if it.state.CompareAndSwap(itemPending, itemWithdrawn) {
			return ctx.Err()
		}
		<-it.done // started: its outcome is the truth
		return it.err
	}
}

// lead commits batches until none is pending.
func (g *txGroup) lead() {
	for {
		g.mu.Lock()
		n := min(len(g.pending), maxGroup)
		if n == 0 {
			g.leading = false
			g.mu.Unlock()
			return
		}
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		g.commit(batch)
	}
}

// commit runs batch's items in one transaction, under the latest of their
// deadlines.
func (g *txGroup) commit(batch []*groupItem) {
	var deadline time.Time
	for _, it := range batch {
		d, ok := it.ctx.Deadline()
		if !ok {
			d = time.Now().Add(groupWait)
		}
		if d.After(deadline) {
			deadline = d
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err := g.commitItems(ctx, batch)
	for _, it := range batch {
		if err != nil && it.err == nil {
			it.err = err
		}
		close(it.done)
	}
}

// commitItems runs items under a savepoint each and commits; it sets an item's
// err when its fn failed, and returns an error that fails every item. The
// statements run under a context without cancellation and the deadline is
// checked between items: for a cancellable context the driver starts a
// goroutine per statement to watch it, and an interrupt would end the whole
// transaction anyway. A statement cannot wait on another connection: BEGIN
// IMMEDIATE took the write lock.
func (g *txGroup) commitItems(ctx context.Context, items []*groupItem) error {
	if !g.queue.enter(ctx) {
		return ctx.Err()
	}
	run := context.WithoutCancel(ctx)
	g.batches.Add(1)
	tx, err := g.pool.BeginTx(run, nil)
	g.queue.leave()
	if err != nil {
		return err
	}
	for _, it := range items {
		if !it.state.CompareAndSwap(itemPending, itemRunning) {
			continue // withdrawn: its caller has returned
		}
		if err := cmp.Or(ctx.Err(), it.ctx.Err()); err != nil {
			it.err = err // its caller is going: do not start what it no longer waits for
			continue
		}
		if _, err := tx.ExecContext(run, `SAVEPOINT gatehouse_group`); err != nil {
			_ = tx.Rollback()
			return err
		}
		if it.err = it.fn(run, tx); it.err != nil {
			if _, err := tx.ExecContext(run, `ROLLBACK TO SAVEPOINT gatehouse_group`); err != nil {
				// SQLite rolled the transaction back (an I/O error, a full
				// disk): what the batch did before is gone too.
				_ = tx.Rollback()
				return fmt.Errorf("%w (then the transaction failed: %w)", it.err, err)
			}
		}
		if _, err := tx.ExecContext(run, `RELEASE SAVEPOINT gatehouse_group`); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}
