package sqlstore

import (
	"context"
	"database/sql/driver"
	"sync"
)

// batchGate gives the audit writer's batch SQLite's write lock next, whatever
// queues for the writer (issue 14: a kill -9 loses only the batch window). The
// batch is written on a connection of its own (DB.batches); while it is, the
// writer's connection waits at its next use, before it can take the lock again,
// instead of the batch waiting behind every request queued for the writer
// (database/sql hands the freed writer to a random waiter). So a batch waits at
// most for the write under way, and a request write for at most one batch.
type batchGate struct {
	turn sync.Mutex // one batch at a time
	mu   sync.Mutex
	busy chan struct{} // non-nil while a batch is written; closed when it ends
}

// hold closes the gate for a batch; release opens it again.
func (g *batchGate) hold() {
	g.turn.Lock()
	g.mu.Lock()
	g.busy = make(chan struct{})
	g.mu.Unlock()
}

func (g *batchGate) release() {
	g.mu.Lock()
	close(g.busy)
	g.busy = nil
	g.mu.Unlock()
	g.turn.Unlock()
}

// wait returns once no batch is being written, or ctx ends (the caller's
// statement then fails on ctx itself).
func (g *batchGate) wait(ctx context.Context) {
	g.mu.Lock()
	busy := g.busy
	g.mu.Unlock()
	if busy == nil {
		return
	}
	select {
	case <-busy:
	case <-ctx.Done():
	}
}

// gatedConnector opens the SQLite writer's connection: one that waits at the
// gate each time database/sql hands it out again (ResetSession).
type gatedConnector struct {
	drv  driver.Driver
	dsn  string
	gate *batchGate
}

func (c gatedConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return gatedConn{conn, c.gate}, nil
}

func (c gatedConnector) Driver() driver.Driver { return c.drv }

// gatedConn is the driver's connection with ResetSession waiting at the gate;
// the other methods database/sql looks for are passed on as they are.
type gatedConn struct {
	driver.Conn
	gate *batchGate
}

// ResetSession runs before every use but the first, outside any transaction: the
// connection holds no lock here.
func (c gatedConn) ResetSession(ctx context.Context) error {
	c.gate.wait(ctx)
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c gatedConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c gatedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	//lint:ignore SA1019 the fallback database/sql itself uses for a driver without BeginTx
	return c.Conn.Begin()
}

func (c gatedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.Conn.Prepare(query)
}

func (c gatedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if e, ok := c.Conn.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c gatedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if q, ok := c.Conn.(driver.QueryerContext); ok {
		return q.QueryContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c gatedConn) CheckNamedValue(v *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

func (c gatedConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}
