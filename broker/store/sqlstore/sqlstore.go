// Package sqlstore implements store.Store over database/sql for SQLite
// (modernc.org/sqlite) and PostgreSQL (pgx). The queries are shared; a small dialect
// value holds what differs: connection setup, column encodings of time, locking and
// the migration files.
//
// Times are stored in UTC with microsecond precision; the zero time is NULL. Empty
// lists and empty byte slices read back as nil.
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse/gatehouse/broker/store"
)

// maxIdleConns is how many idle connections the pool keeps for reuse.
const maxIdleConns = 16

// DefaultMaxConns caps the PostgreSQL connections, the pool's and the audit
// writer's together, until SetMaxConns says otherwise
// (GATEHOUSE_DB_MAX_CONNS): without a cap a database that hangs lets every waiting
// request open one more connection, until the server's max_connections refuses
// every replica (issue 14).
const DefaultMaxConns = 20

// connectTimeout bounds establishing one PostgreSQL connection (dial, TLS,
// start-up, authentication) unless the URL sets connect_timeout: a server that
// accepts TCP but does not answer, frozen or overloaded, fails the connection
// rather than holding a pool slot until the caller's deadline.
const connectTimeout = "5"

// DB is a store.Store backed by SQLite or PostgreSQL.
type DB struct {
	// sql is what the aggregates query: the pools (see router), or inside InTx
	// its transaction.
	sql querier
	// pool runs every write and transaction. On SQLite it is the one writer: a
	// single connection, so writers queue in Go (in order, see queue; bounded
	// by their ctx) instead of in SQLite's busy loop, where they failed with
	// SQLITE_BUSY once busy_timeout ran out (issue 14).
	pool *sql.DB
	// queue (SQLite) is where every use of pool waits its turn; nil on
	// PostgreSQL.
	queue *writerQueue
	// group (SQLite) commits concurrent callers' short transactions together
	// (inGroupTx); nil on PostgreSQL, whose pool runs them side by side.
	group *txGroup
	// read runs statements that only read, outside a transaction. On SQLite a
	// pool of query_only connections that WAL lets read beside the writer; on
	// PostgreSQL the same pool as pool.
	read *sql.DB
	// batches runs the audit writer's batches (AppendBatch) on PostgreSQL: a
	// pool of its own of one connection (one of the GATEHOUSE_DB_MAX_CONNS, see
	// SetMaxConns), so that a batch never queues for a connection behind the
	// requests. On SQLite pool, where the batches enter the queue first.
	batches *sql.DB
	// checkpointer (SQLite) copies the WAL into the database file in the
	// background (checkpoints) until stopCheckpoints, after which
	// checkpointsDone is closed; nil on PostgreSQL and in InTx's DB.
	checkpointer *sql.DB
	// file is the SQLite database file's path (checkpointAndRestart syncs it).
	file            string
	stopCheckpoints func()
	checkpointsDone chan struct{}
	tx              *sql.Tx // InTx's transaction; nil outside one
	dialect         *dialect
	migrations      []migration
	stmts           *sync.Map // stmtKey -> *sql.Stmt, see prepared
}

// stmtKey names a prepared statement: a statement belongs to one pool.
type stmtKey struct {
	pool  *sql.DB
	query string
}

// querier is what *sql.DB and *sql.Tx have in common that the aggregates use.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var _ store.Store = (*DB)(nil)

// Open connects to databaseURL, either "sqlite:PATH" or "postgres://…"
// ("postgresql://…"). It does not migrate: call Migrate when the caller decides the
// schema may change.
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	scheme, rest, ok := strings.Cut(databaseURL, ":")
	if !ok {
		return nil, errors.New("sqlstore: open: database URL has no scheme (want sqlite:PATH or postgres://…)")
	}
	var (
		d   *dialect
		dsn string
		err error
	)
	switch scheme {
	case "sqlite":
		d = sqliteDialect
		dsn, err = sqliteDSN(rest)
	case "postgres", "postgresql":
		d = postgresDialect
		dsn, err = postgresDSN(databaseURL)
	default:
		return nil, fmt.Errorf("sqlstore: open: unsupported database URL scheme %q (want sqlite or postgres)", scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", err)
	}
	migrations, err := loadMigrations(d)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", err)
	}
	var queue *writerQueue
	if d == sqliteDialect {
		queue = newWriterQueue()
	}
	sdb, err := openPool(ctx, d, dsn)
	if err != nil {
		return nil, err
	}
	db := &DB{sql: sdb, pool: sdb, queue: queue, read: sdb, batches: sdb, dialect: d, migrations: migrations, stmts: new(sync.Map)}
	if d == postgresDialect {
		// Not pinged: it connects at the first batch, so a CLI command that
		// writes none opens no second connection.
		if db.batches, err = sql.Open(d.driver, dsn); err != nil {
			_ = sdb.Close() // the second pool's error is the one worth reporting
			return nil, fmt.Errorf("sqlstore: open %s: %w", d.name, err)
		}
		db.batches.SetMaxOpenConns(1)
		db.batches.SetMaxIdleConns(1)
	}
	if d == sqliteDialect {
		// The writer first: its connection turns the file to WAL, which the
		// readers' query_only connections could not.
		sdb.SetMaxOpenConns(1)
		if db.read, err = openPool(ctx, d, dsn+"&_query_only=1"); err != nil {
			_ = sdb.Close() // the reader's error is the one worth reporting
			return nil, err
		}
		if db.checkpointer, err = openSidePool(ctx, dsn); err != nil {
			_ = sdb.Close() // the checkpointer's error is the one worth reporting
			_ = db.read.Close()
			return nil, err
		}
		stop := make(chan struct{})
		db.checkpointsDone = make(chan struct{})
		db.stopCheckpoints = sync.OnceFunc(func() { close(stop); <-db.checkpointsDone })
		go db.checkpoints(stop, db.checkpointsDone)
		db.sql = router{read: db.read, write: sdb, queue: queue}
		db.group = &txGroup{pool: sdb, queue: queue}
		db.file = rest
	}
	db.SetMaxConns(DefaultMaxConns)
	return db, nil
}

// openPool opens and pings one pool.
func openPool(ctx context.Context, d *dialect, dsn string) (*sql.DB, error) {
	sdb, err := sql.Open(d.driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", d.name, err)
	}
	if err := sdb.PingContext(ctx); err != nil {
		_ = sdb.Close() // the ping error is the one worth reporting
		return nil, fmt.Errorf("sqlstore: open %s: %w", d.name, err)
	}
	// database/sql keeps two idle connections by default: under concurrent requests
	// every other connection was closed after its query and opened again for the
	// next one, which for SQLite reruns the connection's PRAGMAs (a third of the CPU
	// of an introspection request under load). Idle ones still close after a while.
	sdb.SetMaxIdleConns(maxIdleConns)
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	return sdb, nil
}

// openSidePool opens a SQLite pool of one connection that reads no table, the
// checkpointer's: a 256 KiB page cache instead of SQLite's 2 MB default. With
// the default, such a connection (the audit batches' had one) raised peak RSS
// under the 16-connection client_credentials load from 37 to 42 MiB
// (GOMEMLIMIT=16MiB; 47 to 52 MiB without), at the same CPU per request.
func openSidePool(ctx context.Context, dsn string) (*sql.DB, error) {
	p, err := openPool(ctx, sqliteDialect, dsn+"&_pragma=cache_size(-256)")
	if err != nil {
		return nil, err
	}
	p.SetMaxOpenConns(1)
	return p, nil
}

// router sends a statement that only reads to the read pool and every other one
// (INSERT, UPDATE, DELETE, with or without RETURNING) to the writer. A write
// misrouted to the read pool fails at once (its connections are query_only)
// rather than contending for the file's write lock. Writes wait their turn in
// queue.
type router struct {
	read, write *sql.DB
	queue       *writerQueue
}

func (r router) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if !r.queue.enter(ctx) {
		return nil, ctx.Err()
	}
	defer r.queue.leave()
	return r.write.ExecContext(ctx, query, args...)
}

func (r router) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if readOnly(query) {
		return r.read.QueryContext(ctx, query, args...)
	}
	if !r.queue.enter(ctx) {
		return nil, ctx.Err()
	}
	defer r.queue.leave()
	return r.write.QueryContext(ctx, query, args...)
}

func (r router) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if readOnly(query) {
		return r.read.QueryRowContext(ctx, query, args...)
	}
	if r.queue.enter(ctx) {
		defer r.queue.leave()
	} // else ctx has ended, and the Row says so
	return r.write.QueryRowContext(ctx, query, args...)
}

// readOnly reports whether query is a plain SELECT. A WITH may hold a write
// (a data-modifying CTE on PostgreSQL), so it goes to the writer like
// everything that is not a SELECT.
func readOnly(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

// poolFor is the pool that runs query outside a transaction.
func (db *DB) poolFor(query string) *sql.DB {
	if readOnly(query) {
		return db.read
	}
	return db.pool
}

// SetMaxConns caps the PostgreSQL connections at n (n > 0; 1 counts as 2): one
// is the audit writer's (batches), the other n-1 the pool's, where a caller that
// finds them all busy waits for one until its context ends, which bounds that
// wait (GATEHOUSE_REQUEST_TIMEOUT for requests). SQLite is not capped here: its
// writer has one connection, its readers do not wait for each other.
func (db *DB) SetMaxConns(n int) {
	if db.dialect == sqliteDialect || n <= 0 {
		return
	}
	db.pool.SetMaxOpenConns(max(n, 2) - 1)
}

// postgresDSN is databaseURL with connect_timeout added if it names none.
func postgresDSN(databaseURL string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		// pgx also takes "key=value" strings, but the scheme check took URLs only.
		return "", errors.New("postgres: database URL does not parse")
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", connectTimeout)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// sqliteDSN creates the database file with mode 0600 if it is missing (it holds
// sealed secrets and token hashes) and returns the driver's DSN for it.
func sqliteDSN(path string) (string, error) {
	if path == "" || path == ":memory:" {
		return "", errors.New("sqlite: want sqlite:PATH to a database file")
	}
	if strings.Contains(path, "?") {
		// The driver would read the rest as its own parameters.
		return "", fmt.Errorf("sqlite: path %q must not contain '?'", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("sqlite: %w", err)
	}
	st, err := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: %w", err)
	}
	// DATA-14: refuse a database others can read rather than serve from it.
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("sqlite: %s is readable or writable by group or others (mode %v); chmod 600 it", path, perm)
	}
	// _txlock=immediate: a transaction takes the write lock at BEGIN, so it cannot
	// fail with SQLITE_BUSY half way when a read would upgrade to a write. In this
	// process only the one writer writes (the checkpointer copies), so
	// busy_timeout covers another process (a CLI command beside the server).
	// synchronous=NORMAL in WAL mode: a commit
	// is in the WAL file when it returns, so a crash of the process (kill -9)
	// loses nothing acknowledged; a power loss may lose the last transactions,
	// never corrupt the file (https://www.sqlite.org/pragma.html#pragma_synchronous).
	// wal_autocheckpoint: the server checkpoints in the background (checkpoint.go).
	return path + "?_txlock=immediate&_busy_timeout=5000&_foreign_keys=1" +
		"&_journal_mode=WAL&_synchronous=NORMAL&_pragma=wal_autocheckpoint(" + strconv.Itoa(writerCheckpointPages) + ")", nil
}

// Ping reports whether the database answers. It asks the read pool: on SQLite
// the writer may be busy with a sweep's batch, which says nothing of health.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	return nil
}

// Close closes every connection.
func (db *DB) Close() error {
	if db.tx != nil {
		return errors.New("sqlstore: close: inside a transaction (InTx closes nothing)")
	}
	if db.checkpointer != nil {
		db.stopCheckpoints()
	}
	db.stmts.Range(func(_, st any) bool {
		_ = st.(*sql.Stmt).Close() // closing the pool below reports what matters
		return true
	})
	err := db.pool.Close()
	if db.read != db.pool {
		err = errors.Join(err, db.read.Close())
	}
	if db.batches != db.pool {
		err = errors.Join(err, db.batches.Close())
	}
	if db.checkpointer != nil {
		err = errors.Join(err, db.checkpointer.Close())
	}
	if err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

func (db *DB) Users() store.Users                               { return users{db} }
func (db *DB) Identities() store.Identities                     { return identities{db} }
func (db *DB) Providers() store.Providers                       { return providers{db} }
func (db *DB) Clients() store.Clients                           { return clients{db} }
func (db *DB) APIs() store.APIs                                 { return apis{db} }
func (db *DB) Sessions() store.Sessions                         { return sessions{db} }
func (db *DB) Codes() store.Codes                               { return codes{db} }
func (db *DB) DeviceAuthorizations() store.DeviceAuthorizations { return deviceAuthorizations{db} }
func (db *DB) RefreshTokens() store.RefreshTokens               { return refreshTokens{db} }
func (db *DB) Consents() store.Consents                         { return consents{db} }
func (db *DB) Delegations() store.Delegations                   { return delegations{db} }
func (db *DB) SigningKeys() store.SigningKeys                   { return signingKeys{db} }
func (db *DB) Audit() store.Audit                               { return audit{db} }
func (db *DB) Replay() store.Replay                             { return replay{db} }
func (db *DB) Revocations() store.Revocations                   { return revocations{db} }
func (db *DB) SignIns() store.SignIns                           { return signIns{db} }
func (db *DB) Roles() store.Roles                               { return roles{db} }
func (db *DB) SecurityKeys() store.SecurityKeys                 { return securityKeys{db} }

// prepared returns the statement for query on the pool that runs it outside a
// transaction (see prepareOn).
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	return db.prepareOn(ctx, db.poolFor(query), query)
}

// prepareOn returns the statement for query on pool, prepared on first use and
// kept until Close, for the queries of hot paths: preparing costs SQLite more
// than running a short indexed query. database/sql prepares it again on each
// pooled connection that first runs it. The caller must pass a bounded set of
// query texts. A transaction's statements are prepared on db.pool, the pool of
// its connection.
func (db *DB) prepareOn(ctx context.Context, pool *sql.DB, query string) (*sql.Stmt, error) {
	key := stmtKey{pool, query}
	if st, ok := db.stmts.Load(key); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(key, st); loaded {
		_ = st.Close() // another caller prepared it first
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// query runs a SELECT of a hot path on its prepared statement (stmt): SQLite
// spent a sixth of the account page's CPU preparing the texts of its lists
// again on every view.
func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := db.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// queryRow runs a one-row SELECT of a hot path on its prepared statement
// (stmt): SQLite spent a tenth of a refresh's CPU preparing the texts of four
// such lookups again on every request.
func (db *DB) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	st, err := db.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// errRow is a row whose statement could not be prepared: Scan says why.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// stmt returns prepared(query), bound to InTx's transaction inside one (where
// the pool's connections must not be used: on SQLite they would wait for the
// transaction's write lock).
func (db *DB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if db.tx == nil {
		return db.prepared(ctx, query)
	}
	return db.txStmt(ctx, db.tx, query)
}

// txStmt returns query's statement on db.pool bound to tx. A statement not
// prepared yet is prepared on tx's own connection, and on the pool in the
// background for the next use: a transaction, which holds a connection, must
// never wait for a second one. SQLite's writer has one connection (tx's).
func (db *DB) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st, ok := db.stmts.Load(stmtKey{db.pool, query}); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt)), nil
	}
	go func() {
		pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if db.queue.enter(pctx) {
			defer db.queue.leave()
			_, _ = db.prepareOn(pctx, db.pool, query) // a failure leaves the next use to prepare it
		}
	}()
	return tx.PrepareContext(ctx, query)
}

// inTx runs fn in a transaction and commits it if fn returns nil. Inside InTx fn
// runs in InTx's transaction instead, under a savepoint, so that the aggregate's
// writes stay all or nothing there too.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.tx != nil {
		return db.savepoint(ctx, func() error { return fn(db.tx) })
	}
	return inTxOn(ctx, db.pool, db.queue, false, fn)
}

// inGroupTx runs fn as inTx does, but on SQLite in the next group transaction
// (txGroup) beside other callers' work: fn's writes are undone if it fails,
// and the others' stay. fn must run its statements with the ctx it is given,
// which on SQLite is the group's, not the caller's.
func (db *DB) inGroupTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	switch {
	case db.tx != nil:
		return db.savepoint(ctx, func() error { return fn(ctx, db.tx) })
	case db.group != nil:
		return db.group.run(ctx, fn)
	}
	return inTxOn(ctx, db.pool, db.queue, false, func(tx *sql.Tx) error { return fn(ctx, tx) })
}

// beginOn begins a transaction on pool in its turn in queue (which may be nil),
// ahead of the callers waiting there if first.
func beginOn(ctx context.Context, pool *sql.DB, queue *writerQueue, first bool) (*sql.Tx, error) {
	if !queue.wait(ctx, first) {
		return nil, ctx.Err()
	}
	defer queue.leave()
	return pool.BeginTx(ctx, nil)
}

// inTxOn runs fn in a transaction begun by beginOn and commits it if fn
// returns nil.
func inTxOn(ctx context.Context, pool *sql.DB, queue *writerQueue, first bool, fn func(tx *sql.Tx) error) error {
	tx, err := beginOn(ctx, pool, queue, first)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // fn's error says what went wrong
		return txErr(ctx, err)
	}
	return txErr(ctx, tx.Commit())
}

// txErr is err, a transaction's failure, with the reason when ctx ended: at the
// deadline database/sql rolls the transaction back itself, and what runs on it
// afterwards, Commit included, fails with sql.ErrTxDone, which does not say why.
// The web layer answers a request that ran out of time on the database with 503
// and an unexplained failure with 500 (tools/chaos found the 500).
func txErr(ctx context.Context, err error) error {
	if errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// InTx runs fn with a store whose aggregates all run on one transaction, and
// commits it if fn returns nil; otherwise it rolls back and returns fn's error.
// Inside fn every write must go through tx: on SQLite another connection would
// wait for this transaction's write lock. InTx on tx nests under a savepoint:
// its writes are undone if its fn fails, the outer transaction goes on.
func (db *DB) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	if db.tx != nil {
		return db.savepoint(ctx, func() error { return fn(db) })
	}
	tx, err := beginOn(ctx, db.pool, db.queue, false)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	txdb := &DB{sql: tx, pool: db.pool, queue: db.queue, read: db.read, batches: db.batches, tx: tx, dialect: db.dialect, migrations: db.migrations, stmts: db.stmts}
	if err := fn(txdb); err != nil {
		_ = tx.Rollback() // fn's error says what went wrong
		return txErr(ctx, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", txErr(ctx, err))
	}
	return nil
}

// nestedSavepoint names the savepoint of a nested transaction. Both databases
// allow the name again in a nested one; ROLLBACK TO and RELEASE refer to the
// innermost.
const nestedSavepoint = "gatehouse_nested"

// savepoint runs fn inside InTx's transaction and undoes fn's writes if it fails.
// On PostgreSQL that also clears a failed statement's abort of the transaction.
func (db *DB) savepoint(ctx context.Context, fn func() error) error {
	if _, err := db.tx.ExecContext(ctx, `SAVEPOINT `+nestedSavepoint); err != nil {
		return fmt.Errorf("sqlstore: savepoint: %w", err)
	}
	if err := fn(); err != nil {
		// Without cancellation: a cancelled ctx must still undo fn's writes
		// (database/sql rolls the whole transaction back then anyway).
		uctx := context.WithoutCancel(ctx)
		if _, rerr := db.tx.ExecContext(uctx, `ROLLBACK TO SAVEPOINT `+nestedSavepoint); rerr == nil {
			_, _ = db.tx.ExecContext(uctx, `RELEASE SAVEPOINT `+nestedSavepoint) // pops it; fn's error is the one to report
		}
		return err
	}
	if _, err := db.tx.ExecContext(ctx, `RELEASE SAVEPOINT `+nestedSavepoint); err != nil {
		return fmt.Errorf("sqlstore: release savepoint: %w", err)
	}
	return nil
}

// execOne runs a statement that must change exactly one row; none is ErrNotFound.
func (db *DB) execOne(ctx context.Context, op, query string, args ...any) error {
	n, err := db.execCount(ctx, op, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// paramList is the placeholders $first, …, $first+n-1, comma-separated: an IN
// list or a row of n bound values.
func paramList(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(first+i))
	}
	return b.String()
}

// anys is vs as the arguments of a statement.
func anys(vs []string) []any {
	args := make([]any, len(vs))
	for i, v := range vs {
		args[i] = v
	}
	return args
}

// checkListed refuses an empty list or one longer than store.MaxListed: a
// caller bug, caught before it reaches a database that would refuse it less
// clearly (or, empty, match nothing by surprise).
func checkListed(op string, n int) error {
	if n == 0 || n > store.MaxListed {
		return fmt.Errorf("%s: %d values listed, want 1 to %d", op, n, store.MaxListed)
	}
	return nil
}

// execCount runs a statement and returns how many rows it changed.
func (db *DB) execCount(ctx context.Context, op, query string, args ...any) (int64, error) {
	res, err := db.sql.ExecContext(ctx, query, args...)
	return affected(op, res, err)
}

// affected is how many rows the statement that gave res and err changed.
func affected(op string, res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(op, err)
	}
	return n, nil
}

// wrap prefixes err with the operation's name and translates what the drivers
// report into the store's sentinel errors.
func wrap(op string, err error) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, "23505"):
		return fmt.Errorf("%s: %w (%w)", op, store.ErrConflict, err)
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, 0, "23503"):
		// The record refers to a parent (a user) that does not exist.
		return fmt.Errorf("%s: %w (%w)", op, store.ErrNotFound, err)
	case connectionLost(err):
		return fmt.Errorf("%s: %w (%w)", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// connectionLost reports whether err is the connection to PostgreSQL failing
// rather than the statement: a pooled connection that a restarted server closed
// fails its next statement with EOF (pgx cannot tell whether it was received, so
// database/sql does not retry it), as do a reset or refused connection and a
// server shutting down or starting (SQLSTATE class 08, connection exception;
// 57P01–57P03, https://www.postgresql.org/docs/current/errcodes-appendix.html).
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, driver.ErrBadConn) ||
		errors.As(err, &connectErr) || errors.As(err, &netErr)
}

// isConstraint reports whether err is one of the SQLite extended result codes a and
// b, or the PostgreSQL SQLSTATE pg.
func isConstraint(err error, a, b int, pg string) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == a || se.Code() == b
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pg
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// collect scans every row with scan.
func collect[T any](op string, rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// countable are the tables Count may be asked about.
var countable = map[string]bool{"users": true, "identities": true, "sessions": true, "providers": true,
	"audit_events": true, "replay_cache": true, "auth_codes": true, "consents": true, "refresh_tokens": true,
	"device_authorizations": true}

// Count returns the number of rows of one of Gatehouse's tables, for tests that
// assert nothing was stored and for diagnostics.
func (db *DB) Count(ctx context.Context, table string) (int, error) {
	if !countable[table] {
		return 0, fmt.Errorf("count: table %q not countable", table)
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		return 0, wrap("count "+table, err)
	}
	return n, nil
}
