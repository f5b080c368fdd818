package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

type revocations struct{ db *DB }

// Revoke upserts the key; CASE keeps the later of the stored and the new times, so
// concurrent revocations on several replicas never shrink one another.
func (s revocations) Revoke(ctx context.Context, key string, issuedBefore, keepUntil time.Time) error {
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO token_revocations (key, issued_before, keep_until)
VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET
	issued_before = CASE WHEN excluded.issued_before > token_revocations.issued_before
		THEN excluded.issued_before ELSE token_revocations.issued_before END,
	keep_until = CASE WHEN excluded.keep_until > token_revocations.keep_until
		THEN excluded.keep_until ELSE token_revocations.keep_until END`,
		key, s.db.ts(issuedBefore), s.db.ts(keepUntil))
	return wrapErr("revocations: revoke", err)
}

// Latest answers with one indexed query, whatever the number of keys: introspection
// calls it on every request, so the query is prepared once per number of keys.
func (s revocations) Latest(ctx context.Context, keys []string) (time.Time, error) {
	const op = "revocations: latest"
	if len(keys) == 0 {
		return time.Time{}, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	var rows *sql.Rows
	var err error
	if len(keys) < len(latestQueries) {
		var stmt *sql.Stmt
		if stmt, err = s.db.stmt(ctx, latestQueries[len(keys)]); err == nil {
			rows, err = stmt.QueryContext(ctx, args...)
		}
	} else {
		rows, err = s.db.sql.QueryContext(ctx, latestQuery(len(keys)), args...)
	}
	if err != nil {
		return time.Time{}, wrap(op, err)
	}
	var latest time.Time
	ts, err := collect(op, rows, func(r rowScanner) (time.Time, error) {
		var t time.Time
		err := r.Scan(tsd(&t))
		return t, err
	})
	if err != nil {
		return time.Time{}, err
	}
	for _, t := range ts {
		if t.After(latest) {
			latest = t
		}
	}
	return latest, nil
}

// latestQueries are Latest's queries for up to 7 keys (an access token has at most
// six revocation keys), so the set of prepared statements stays bounded.
var latestQueries = func() (q [8]string) {
	for n := 1; n < len(q); n++ {
		q[n] = latestQuery(n)
	}
	return q
}()

func latestQuery(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+1))
	}
	return `SELECT issued_before FROM token_revocations WHERE key IN (` + b.String() + `)`
}

func (s revocations) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	return s.db.deleteExpired(ctx, "revocations: delete expired", "token_revocations", "key", "keep_until", before)
}

var _ store.Revocations = revocations{}

// wrapErr is wrap for a possibly nil error.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return wrap(op, err)
}
