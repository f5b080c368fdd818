package sqlstore

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// dialect is what differs between SQLite and PostgreSQL. The queries themselves are
// shared: both accept $N placeholders, RETURNING and ON CONFLICT.
type dialect struct {
	name   string // "sqlite" or "postgres"; also the migrations directory
	driver string // database/sql driver name
	// lock, run inside a transaction with an int64 key, makes transactions that take
	// the same key run one after another. Empty on SQLite, where every write
	// transaction begins IMMEDIATE and so already runs alone.
	lock string
	// forUpdate locks the rows a SELECT returns until the transaction ends (empty on
	// SQLite, for the same reason).
	forUpdate string
	// forShare locks the rows a SELECT returns against updates and deletes until
	// the transaction ends, letting other readers take the same lock (empty on
	// SQLite, for the same reason).
	forShare string
	// tableExists is a query returning one row if the table named $1 exists.
	tableExists string
	// timeArg encodes a non-zero UTC time for a query.
	timeArg func(time.Time) any
}

// Keys of the dialect's transaction lock.
const (
	lockMigrate int64 = 0x6761_7465_0001 // "gate", 1
	lockKeys    int64 = 0x6761_7465_0002
)

// sqliteTime is fixed-width so that text comparisons in SQL order times correctly.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

var sqliteDialect = &dialect{
	name:        "sqlite",
	driver:      "sqlite",
	tableExists: `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1`,
	timeArg:     func(t time.Time) any { return t.Format(sqliteTime) },
}

var postgresDialect = &dialect{
	name:        "postgres",
	driver:      "pgx",
	lock:        `SELECT pg_advisory_xact_lock($1)`,
	forUpdate:   ` FOR UPDATE`,
	forShare:    ` FOR SHARE`,
	tableExists: `SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1`,
	timeArg:     func(t time.Time) any { return t },
}

// ts encodes t for a query: NULL for the zero time, otherwise UTC truncated to the
// microsecond both databases keep.
func (db *DB) ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return db.dialect.timeArg(t.UTC().Truncate(time.Microsecond))
}

// timeDest scans a column written by ts back into a UTC time.
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
	case time.Time:
		*d.t = v.UTC()
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

func (d timeDest) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("sqlstore: scanning time: %w", err)
	}
	*d.t = t.UTC()
	return nil
}

func tsd(t *time.Time) timeDest { return timeDest{t} }

// blob encodes b for a query: NULL when empty.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// bytesDest scans a BLOB/BYTEA column, reading NULL and empty as nil.
type bytesDest struct{ b *[]byte }

func (d bytesDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.b = nil
	case []byte:
		if len(v) == 0 {
			*d.b = nil
		} else {
			// The driver may reuse v's memory after Scan returns.
			*d.b = append([]byte(nil), v...)
		}
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into bytes", src)
	}
	return nil
}

func bd(b *[]byte) bytesDest { return bytesDest{b} }

// jsonList encodes a list as a JSON array for a TEXT column.
type jsonList[T any] []T

func (l jsonList[T]) Value() (driver.Value, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal([]T(l))
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// listDest scans a JSON array written by jsonList; an empty array reads as nil.
type listDest[T any] struct{ l *[]T }

func (d listDest[T]) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*d.l = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a list", src)
	}
	var l []T
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("sqlstore: scanning list: %w", err)
	}
	if len(l) == 0 {
		l = nil
	}
	*d.l = l
	return nil
}

func ld[T any](l *[]T) listDest[T] { return listDest[T]{l} }

// jsonObject encodes a value as a JSON object for a TEXT column (an API's
// delegation policy).
type jsonObject[T any] struct{ v T }

func (o jsonObject[T]) Value() (driver.Value, error) {
	b, err := json.Marshal(o.v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// objectDest scans a JSON object written by jsonObject; NULL reads as the zero value.
type objectDest[T any] struct{ v *T }

func (d objectDest[T]) Scan(src any) error {
	var v T
	switch s := src.(type) {
	case nil:
	case string:
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return fmt.Errorf("sqlstore: scanning object: %w", err)
		}
	case []byte:
		if err := json.Unmarshal(s, &v); err != nil {
			return fmt.Errorf("sqlstore: scanning object: %w", err)
		}
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into an object", src)
	}
	*d.v = v
	return nil
}
