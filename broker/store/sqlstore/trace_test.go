package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
	"sync"
	"testing"
)

// A database/sql driver that wraps the real SQLite or PostgreSQL driver and
// records every statement the store runs with its arguments, so that a test
// can read the query plan of exactly what a store method sends (plans_test.go)
// instead of a copy of its SQL.

// statement is one recorded query and the arguments it ran with.
type statement struct {
	query string
	args  []any
}

// recorder collects statements while on.
type recorder struct {
	mu    sync.Mutex
	on    bool
	stmts []statement
}

func (r *recorder) add(query string, args []driver.NamedValue) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return
	}
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a.Value
	}
	r.stmts = append(r.stmts, statement{query, vals})
}

// record turns recording on, runs fn, and returns what it ran.
func (r *recorder) record(fn func()) []statement {
	r.mu.Lock()
	r.on, r.stmts = true, nil
	r.mu.Unlock()
	fn()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	return r.stmts
}

// traced is the recorder of the traced drivers; registering a driver is for
// the life of the process, so there is one, and tests using it must not run
// in parallel (none in this package does).
var (
	traced     = new(recorder)
	traceOnce  sync.Once
	traceNames = map[string]string{"sqlite": "sqlite-traced", "pgx": "pgx-traced"}
)

// openTraced opens and migrates url with its dialect's driver wrapped by the
// recorder; query (e.g. "enable_seqscan=off") is added to a PostgreSQL URL.
func openTraced(t *testing.T, url, pgParams string) *DB {
	t.Helper()
	traceOnce.Do(func() {
		for real, name := range traceNames {
			db, err := sql.Open(real, "")
			if err != nil {
				t.Fatal(err)
			}
			sql.Register(name, traceDriver{db.Driver()})
			_ = db.Close() // never connected
		}
	})
	for _, d := range []*dialect{sqliteDialect, postgresDialect} {
		real := d.driver
		d.driver = traceNames[real]
		t.Cleanup(func() { d.driver = real })
	}
	if pgParams != "" && !strings.HasPrefix(url, "sqlite:") {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		url += sep + pgParams
	}
	db := openMigrated(t, url)
	for _, d := range []*dialect{sqliteDialect, postgresDialect} {
		for real, name := range traceNames {
			if d.driver == name {
				d.driver = real
			}
		}
	}
	return db
}

type traceDriver struct{ driver.Driver }

func (d traceDriver) Open(name string) (driver.Conn, error) {
	c, err := d.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	return traceConn{c}, nil
}

type traceConn struct{ driver.Conn }

func (c traceConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c traceConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, query)
	} else {
		st, err = c.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return traceStmt{st, query}, nil
}

func (c traceConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	//lint:ignore SA1019 the fallback database/sql itself uses for a driver without BeginTx
	return c.Conn.Begin()
}

func (c traceConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	traced.add(query, args)
	return e.ExecContext(ctx, query, args)
}

func (c traceConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	traced.add(query, args)
	return q.QueryContext(ctx, query, args)
}

func (c traceConn) CheckNamedValue(v *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

func (c traceConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c traceConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

type traceStmt struct {
	driver.Stmt
	query string
}

func (s traceStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	traced.add(s.query, args)
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	return nil, driver.ErrSkip
}

func (s traceStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	traced.add(s.query, args)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	return nil, driver.ErrSkip
}

func (s traceStmt) CheckNamedValue(v *driver.NamedValue) error {
	if n, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(v)
	}
	return driver.ErrSkip
}
