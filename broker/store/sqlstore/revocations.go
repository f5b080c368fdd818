package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

type revocations struct{ db *DB }

// Revoke upserts the keys, one row each in one statement; CASE keeps the later
// of the stored and the new times, so concurrent revocations on several replicas
// never shrink one another. A key listed twice is written once: PostgreSQL
// refuses an upsert that would change one row twice.
func (s revocations) Revoke(ctx context.Context, issuedBefore, keepUntil time.Time, keys ...string) error {
	const op = "revocations: revoke"
	if err := checkListed(op, len(keys)); err != nil {
		return err
	}
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	args := []any{s.db.ts(issuedBefore), s.db.ts(keepUntil)}
	rows := make([]string, len(keys))
	for i, k := range keys {
		args = append(args, k)
		rows[i] = "($" + strconv.Itoa(len(args)) + ", $1, $2)"
	}
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO token_revocations (key, issued_before, keep_until)
VALUES `+strings.Join(rows, ", ")+`
ON CONFLICT (key) DO UPDATE SET
	issued_before = CASE WHEN excluded.issued_before > token_revocations.issued_before
		THEN excluded.issued_before ELSE token_revocations.issued_before END,
	keep_until = CASE WHEN excluded.keep_until > token_revocations.keep_until
		THEN excluded.keep_until ELSE token_revocations.keep_until END`, args...)
	return wrapErr(op, err)
}

// Latest answers with one indexed query, whatever the number of keys: introspection
// calls it on every request, so the query is prepared once per number of keys.
func (s revocations) Latest(ctx context.Context, keys []string) (time.Time, error) {
	const op = "revocations: latest"
	if len(keys) == 0 {
		return time.Time{}, nil
	}
	args := anys(keys)
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
	return `SELECT issued_before FROM token_revocations WHERE key IN (` + paramList(1, n) + `)`
}

// Standing is one row of three subqueries, each an index lookup, prepared per
// number of keys like Latest: the token endpoint asks it on every refresh and
// code, and on PostgreSQL each query is a round trip.
func (s revocations) Standing(ctx context.Context, of store.StandingOf) (store.Standing, error) {
	const op = "revocations: standing"
	args := append([]any{of.UserID, of.SessionID}, anys(of.Keys)...)
	var row rowScanner
	if len(of.Keys) < len(standingQueries) {
		row = s.db.queryRow(ctx, standingQueries[len(of.Keys)], args...)
	} else {
		row = s.db.sql.QueryRowContext(ctx, standingQuery(len(of.Keys)), args...)
	}
	var disabled, providerEnabled sql.NullBool
	var st store.Standing
	if err := row.Scan(&disabled, &providerEnabled, tsd(&st.Revoked)); err != nil {
		return store.Standing{}, wrap(op, err)
	}
	st.UserActive = disabled.Valid && !disabled.Bool
	st.SessionEnded = of.SessionID != "" && !(providerEnabled.Valid && providerEnabled.Bool)
	return st, nil
}

// standingQueries are Standing's queries for up to 7 keys.
var standingQueries = func() (q [8]string) {
	for n := range q {
		q[n] = standingQuery(n)
	}
	return q
}()

// standingQuery's row: the user's disabled flag and the session's provider's
// enabled flag, each NULL when its row is missing, and the latest revocation
// among n keys ($3 on).
func standingQuery(n int) string {
	revoked := "NULL"
	if n > 0 {
		revoked = `(SELECT max(issued_before) FROM token_revocations WHERE key IN (` + paramList(3, n) + `))`
	}
	return `SELECT (SELECT disabled FROM users WHERE id = $1),
	(SELECT p.enabled FROM sessions s JOIN providers p ON p.id = s.provider_id WHERE s.id = $2),
	` + revoked
}

func (s revocations) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	return s.db.deleteExpired(ctx, "revocations: delete expired", "token_revocations", "keep_until", before)
}

var _ store.Revocations = revocations{}

// wrapErr is wrap for a possibly nil error.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return wrap(op, err)
}
