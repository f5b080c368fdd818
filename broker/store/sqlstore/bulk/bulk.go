// Package bulk loads rows into a migrated Gatehouse database fast, for
// tools/seed's production-size databases (issue 14, Scale): PostgreSQL through
// COPY, SQLite through large transactions of prepared inserts with the journal
// off. It lives below broker/store because only the store speaks SQL; the
// server never uses it.
package bulk

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver, as the store does
)

// Table is one table's rows, produced one at a time by Next(i) for i from 0
// to Rows-1, each a value per column of Columns. A TS or List value is
// encoded as the store encodes it for the database.
type Table struct {
	Name    string
	Columns []string
	Rows    int
	Next    func(i int) []any
}

// A value of a column that differs by database.
type (
	TS   time.Time // a time: NULL if zero
	List []string  // a JSON array in a TEXT column
)

// Loader bulk-loads tables into one database.
type Loader interface {
	// load inserts t's rows. The table's secondary indexes are dropped first
	// and built again after its rows: one sorted build costs a fraction of
	// millions of random inserts into each of them.
	Load(ctx context.Context, t Table) (int64, error)
	// Close finishes the load (see Finish) and closes the connection.
	Close(ctx context.Context) error
	Finish() string // what Close does, for the log
}

// Open connects to url (as gatehouse serve's GATEHOUSE_DATABASE_URL), which
// must be migrated already.
func Open(ctx context.Context, url string) (Loader, error) {
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		return openSQLite(ctx, path)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &pgWriter{conn}, nil
}

// sqliteTime is the store's fixed-width text encoding of a time (sqlstore's
// dialect): the rows must compare and parse as the server's own.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

// sqliteWriter inserts with one prepared statement per table in transactions
// of sqliteTx rows, on one connection with the journal and fsync off: a crash
// during the seed loses the seed, which is run again. WAL, the server's mode,
// is restored by close.
type sqliteWriter struct{ db *sql.DB }

const sqliteTx = 100_000

func openSQLite(ctx context.Context, path string) (*sqliteWriter, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // the PRAGMAs below hold for this connection
	for _, p := range []string{
		"PRAGMA journal_mode = OFF", "PRAGMA synchronous = OFF", "PRAGMA cache_size = -262144", // 256 MiB
		"PRAGMA temp_store = MEMORY", "PRAGMA foreign_keys = OFF", "PRAGMA busy_timeout = 5000",
	} {
		if _, err := db.ExecContext(ctx, p); err != nil {
			_ = db.Close() // the PRAGMA's error is the one to report
			return nil, fmt.Errorf("sqlite: %s: %w", p, err)
		}
	}
	return &sqliteWriter{db}, nil
}

func (w *sqliteWriter) Load(ctx context.Context, t Table) (int64, error) {
	// Indexes of constraints (PRIMARY KEY, UNIQUE) have no SQL and stay.
	indexes, err := queryPairs(ctx, w.db, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`, t.Name)
	if err != nil {
		return 0, err
	}
	for _, ix := range indexes {
		if _, err := w.db.ExecContext(ctx, `DROP INDEX `+ix[0]); err != nil {
			return 0, err
		}
	}
	n, err := w.insert(ctx, t)
	defer logSince(t.Name+": indexes rebuilt", time.Now())
	for _, ix := range indexes {
		if _, cerr := w.db.ExecContext(ctx, ix[1]); cerr != nil {
			err = errors.Join(err, fmt.Errorf("rebuild index %s: %w", ix[0], cerr))
		}
	}
	return n, err
}

// queryPairs returns the rows of a query of two text columns.
func queryPairs(ctx context.Context, db *sql.DB, q string, args ...any) ([][2]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (w *sqliteWriter) insert(ctx context.Context, t Table) (int64, error) {
	q := `INSERT INTO ` + t.Name + ` (` + strings.Join(t.Columns, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(t.Columns)-1) + `)`
	var n int64
	for n < int64(t.Rows) {
		tx, err := w.db.BeginTx(ctx, nil)
		if err != nil {
			return n, err
		}
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			_ = tx.Rollback() // the prepare's error is the one to report
			return n, err
		}
		for range min(sqliteTx, int64(t.Rows)-n) {
			row := t.Next(int(n))
			for i, v := range row {
				row[i] = sqliteValue(v)
			}
			if _, err := st.ExecContext(ctx, row...); err != nil {
				_ = tx.Rollback() // the insert's error is the one to report
				return n, err
			}
			n++
		}
		if err := tx.Commit(); err != nil {
			return n, err
		}
	}
	return n, nil
}

func sqliteValue(v any) any {
	switch v := v.(type) {
	case TS:
		if time.Time(v).IsZero() {
			return nil
		}
		return time.Time(v).UTC().Format(sqliteTime)
	case List:
		return jsonList(v)
	}
	return v
}

func jsonList(l List) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal([]string(l)) // strings always marshal
	return string(b)
}

func (w *sqliteWriter) Close(ctx context.Context) error {
	_, err := w.db.ExecContext(ctx, "PRAGMA journal_mode = WAL")
	return errors.Join(err, w.db.Close())
}

func (w *sqliteWriter) Finish() string {
	return "journal_mode back to WAL; no ANALYZE, as the server runs without statistics"
}

// pgWriter loads each table with one COPY, then gathers statistics as
// autovacuum would after such a load.
type pgWriter struct{ conn *pgx.Conn }

func (w *pgWriter) Load(ctx context.Context, t Table) (int64, error) {
	// Indexes behind constraints (primary keys, UNIQUE) stay.
	rows, err := w.conn.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
AND tablename = $1 AND indexname NOT IN (SELECT conname FROM pg_constraint)`, t.Name)
	if err != nil {
		return 0, err
	}
	indexes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var p [2]string
		err := r.Scan(&p[0], &p[1])
		return p, err
	})
	if err != nil {
		return 0, err
	}
	for _, ix := range indexes {
		if _, err := w.conn.Exec(ctx, `DROP INDEX `+pgx.Identifier{ix[0]}.Sanitize()); err != nil {
			return 0, err
		}
	}
	n, err := w.copy(ctx, t)
	defer logSince(t.Name+": indexes rebuilt", time.Now())
	for _, ix := range indexes {
		if _, cerr := w.conn.Exec(ctx, ix[1]); cerr != nil {
			err = errors.Join(err, fmt.Errorf("rebuild index %s: %w", ix[0], cerr))
		}
	}
	return n, err
}

func (w *pgWriter) copy(ctx context.Context, t Table) (int64, error) {
	i := 0
	return w.conn.CopyFrom(ctx, pgx.Identifier{t.Name}, t.Columns, pgx.CopyFromFunc(func() ([]any, error) {
		if i >= t.Rows {
			return nil, nil
		}
		row := t.Next(i)
		i++
		for k, v := range row {
			switch v := v.(type) {
			case TS:
				if time.Time(v).IsZero() {
					row[k] = nil
				} else {
					row[k] = time.Time(v)
				}
			case List:
				row[k] = jsonList(v)
			}
		}
		return row, nil
	}))
}

func (w *pgWriter) Close(ctx context.Context) error {
	_, err := w.conn.Exec(ctx, "ANALYZE")
	return errors.Join(err, w.conn.Close(ctx))
}

func (w *pgWriter) Finish() string { return "ANALYZE" }

func logSince(what string, t0 time.Time) {
	fmt.Printf("seed: %s in %.1fs\n", what, time.Since(t0).Seconds())
}

// Expired returns how many refresh tokens and sessions have expired by now,
// as the sweeps find them through their indexes (sessions idle past the
// server's timeout are not counted).
func Expired(ctx context.Context, url string) (refresh, sessions int64, err error) {
	now := time.Now().UTC()
	const q = `SELECT (SELECT count(*) FROM refresh_tokens WHERE expires_at < $1), (SELECT count(*) FROM sessions WHERE expires_at < $1)`
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			return 0, 0, err
		}
		defer db.Close()
		err = db.QueryRowContext(ctx, q, now.Format(sqliteTime)).Scan(&refresh, &sessions)
		return refresh, sessions, err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, q, now).Scan(&refresh, &sessions)
	return refresh, sessions, err
}
