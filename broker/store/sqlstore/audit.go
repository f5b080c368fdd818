package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

type audit struct{ db *DB }

// auditBatch bounds the rows of one INSERT, well under both databases' limits on
// parameters per statement.
const auditBatch = 200

var _ store.AuditBatches = audit{}

// Append stores the events in one transaction; the database assigns their IDs.
func (s audit) Append(ctx context.Context, events ...store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	if err := s.db.inTx(ctx, func(tx *sql.Tx) error { return s.insert(ctx, tx, events) }); err != nil {
		return wrap("audit: append", err)
	}
	return nil
}

// AppendBatch stores the events as Append does, outside InTx and ahead of the
// requests' writes: on PostgreSQL on the audit writer's own connection
// (DB.batches); on SQLite on the writer, entering its queue first, in
// transactions of at most auditChunk events. A whole flush (about 200 events
// under a refresh load) held the writer about 7 ms ten times a second, and
// every request write waited it out. A retry after a failed chunk stores
// nothing twice (auditOnce).
func (s audit) AppendBatch(ctx context.Context, events ...store.AuditEvent) error {
	if len(events) == 0 || s.db.tx != nil {
		return s.Append(ctx, events...)
	}
	pool, size := s.db.batches, len(events)
	if s.db.queue != nil {
		pool, size = s.db.pool, auditChunk
	}
	for len(events) > 0 {
		chunk := events[:min(len(events), size)]
		events = events[len(chunk):]
		if err := inTxOn(ctx, pool, s.db.queue, true, func(tx *sql.Tx) error { return s.insert(ctx, tx, chunk) }); err != nil {
			return wrap("audit: append batch", err)
		}
	}
	return nil
}

// auditChunk bounds the events of one SQLite transaction of AppendBatch, about
// 2 ms of the writer's time.
const auditChunk = 64

// insert inserts the events in tx as the dialect does best.
func (s audit) insert(ctx context.Context, tx *sql.Tx, events []store.AuditEvent) error {
	if s.db.dialect == sqliteDialect {
		return s.appendPrepared(ctx, tx, events)
	}
	return s.appendMultiRow(ctx, tx, events)
}

const auditInsert = `INSERT INTO audit_events (occurred_at, actor, action, target, ip, request_id, details, event_id) VALUES `

// auditOnce skips an event whose event_id is stored already (migration 0016): a
// retried batch or a replayed spill file stores nothing twice. NULL IDs never
// conflict.
const auditOnce = ` ON CONFLICT (event_id) DO NOTHING`

// auditColumns is how many values one row of auditInsert takes.
const auditColumns = 8

// eventID is e's EventID for a query: NULL when empty.
func eventID(e store.AuditEvent) any {
	if e.EventID == "" {
		return nil
	}
	return e.EventID
}

// appendPrepared runs one prepared single-row INSERT per event. SQLite runs in
// process, so a row costs only its bind and step, while preparing a many-row
// statement costs more than inserting its rows (its parser resolves every $N).
//
// The rows are inserted under a context without cancellation, checking ctx between
// rows instead: for a cancellable context the driver starts a goroutine per
// statement to watch it, which cost nearly as much as the insert itself. A row
// cannot wait on another connection: BEGIN IMMEDIATE took the write lock.
func (s audit) appendPrepared(ctx context.Context, tx *sql.Tx, events []store.AuditEvent) error {
	stmt, err := s.db.txStmt(ctx, tx, auditInsert+`($1, $2, $3, $4, $5, $6, $7, $8)`+auditOnce)
	if err != nil {
		return err
	}
	rowCtx := context.WithoutCancel(ctx)
	for _, e := range events {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := stmt.ExecContext(rowCtx, s.db.ts(e.Time), e.Actor, e.Action, e.Target, e.IP, e.RequestID, blob(e.Details), eventID(e)); err != nil {
			return err
		}
	}
	return nil
}

// appendMultiRow sends up to auditBatch rows per INSERT: over a network a round trip
// costs more than the parse.
func (s audit) appendMultiRow(ctx context.Context, tx *sql.Tx, events []store.AuditEvent) error {
	for len(events) > 0 {
		batch := events[:min(len(events), auditBatch)]
		events = events[len(batch):]
		var q strings.Builder
		q.WriteString(auditInsert)
		args := make([]any, 0, auditColumns*len(batch))
		for i, e := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(")
			for j := range auditColumns {
				if j > 0 {
					q.WriteString(", ")
				}
				q.WriteString("$" + strconv.Itoa(auditColumns*i+j+1))
			}
			q.WriteString(")")
			args = append(args, s.db.ts(e.Time), e.Actor, e.Action, e.Target, e.IP, e.RequestID, blob(e.Details), eventID(e))
		}
		q.WriteString(auditOnce)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// List returns the newest events first; events of the same time in the order they
// were appended, newest first.
func (s audit) List(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	const op = "audit: list"
	q, args := s.listQuery(f)
	rows, err := s.db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, func(r rowScanner) (store.AuditEvent, error) {
		var e store.AuditEvent
		err := r.Scan(&e.ID, tsd(&e.Time), &e.Actor, &e.Action, &e.Target, &e.IP, &e.RequestID, bd(&e.Details))
		return e, err
	})
}

// listQuery is List's query for f and its arguments (a test reads its plan).
func (s audit) listQuery(f store.AuditFilter) (string, []any) {
	where, args := s.where(f)
	if f.After.ID != 0 {
		// Keyset pagination in the ORDER BY below: strictly after the cursor.
		args = append(args, s.db.ts(f.After.Time), f.After.ID)
		t, id := "$"+strconv.Itoa(len(args)-1), "$"+strconv.Itoa(len(args))
		where = append(where, "(occurred_at < "+t+" OR (occurred_at = "+t+" AND id < "+id+"))")
	}
	q := `SELECT id, occurred_at, actor, action, target, ip, request_id, details FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	order := ` ORDER BY occurred_at DESC, id DESC`
	if actionLeads(f) {
		// The action index serves this order alone. Without action in the
		// ORDER BY, PostgreSQL walked the time index back instead, filtering
		// on the action: it takes an action's events to be spread evenly over
		// time, but the newest ones are mostly token issuance, so it read
		// hundreds of thousands of rows for a page (about 700 ms at 20M rows
		// under load, against 6 ms on an empty log). An equality would let the
		// planner drop the constant action from the sort again; the range
		// (the same rows) keeps it there.
		order = ` ORDER BY action DESC, occurred_at DESC, id DESC`
	}
	q += order + ` LIMIT $` + strconv.Itoa(len(args))
	return q, args
}

// where is the WHERE clause of f's filters (all but After and Limit) and its
// arguments, numbered from $1.
func (s audit) where(f store.AuditFilter) ([]string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	add := func(cond string, v any) { where = append(where, cond+" "+arg(v)) }
	// prefixes is "(action LIKE $a OR action LIKE $b …)"; the prefixes hold no
	// LIKE wildcards.
	prefixes := func(ps []string) string {
		var or []string
		for _, p := range ps {
			or = append(or, "action LIKE "+arg(p+"%"))
		}
		return "(" + strings.Join(or, " OR ") + ")"
	}
	if f.Actor != "" {
		add("actor =", f.Actor)
	}
	switch {
	case actionLeads(f):
		// A range, not "=": see listQuery.
		a := arg(f.Action)
		where = append(where, "action >= "+a+" AND action <= "+a)
	case f.Action != "":
		add("action =", f.Action)
	}
	if f.Target != "" {
		add("target =", f.Target)
	}
	if !f.Since.IsZero() {
		add("occurred_at >=", s.db.ts(f.Since))
	}
	if !f.Until.IsZero() {
		add("occurred_at <", s.db.ts(f.Until))
	}
	if f.People != nil {
		if len(f.People) == 0 {
			where = append(where, "1 = 0")
		} else {
			var in []string
			for _, p := range f.People {
				in = append(in, arg(p))
			}
			list := strings.Join(in, ", ")
			where = append(where, "(actor IN ("+list+") OR target IN ("+list+"))")
		}
	}
	if f.Provider != "" {
		where = append(where, "(target = "+arg(f.Provider)+" AND "+prefixes(store.ProviderActions)+")")
	}
	if f.Client != "" {
		where = append(where, "(actor = "+arg("client:"+f.Client)+" OR (target = "+arg(f.Client)+" AND "+
			prefixes(store.ClientActions)+"))")
	}
	if f.Outcome != "" {
		var or []string
		for _, suffix := range store.RefusalSuffixes() {
			or = append(or, "action LIKE "+arg("%"+suffix))
		}
		refused := "(" + strings.Join(or, " OR ") + ")"
		if f.Outcome == store.OutcomeRefusal {
			where = append(where, refused)
		} else {
			where = append(where, "NOT "+refused)
		}
	}
	return where, args
}

// actionLeads reports whether f's action is its only filter with an index of
// its own, so that the action index should serve the page. With an actor,
// target, person, provider or client as well, that filter's index is the
// narrower one, and ordering by the action first would make its rows be
// sorted (all of a busy client's events, for its last token).
func actionLeads(f store.AuditFilter) bool {
	return f.Action != "" && f.Actor == "" && f.Target == "" && f.People == nil && f.Provider == "" && f.Client == ""
}

func (s audit) Count(ctx context.Context, f store.AuditFilter, atMost int) (int, error) {
	const op = "audit: count"
	where, args := s.where(f)
	q := `SELECT 1 FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	// The inner LIMIT bounds the rows read, whatever the filter matches.
	args = append(args, atMost)
	q = `SELECT count(*) FROM (` + q + ` LIMIT $` + strconv.Itoa(len(args)) + `) AS matched`
	var n int
	if err := s.db.sql.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, wrap(op, err)
	}
	return n, nil
}

func (s audit) CountByDay(ctx context.Context, q store.AuditDayQuery) ([]store.AuditDayCount, error) {
	const op = "audit: count by day"
	if len(q.Actions) == 0 {
		return nil, nil
	}
	// The day in UTC as YYYY-MM-DD: SQLite stores fixed-width UTC text
	// (sqliteTime), PostgreSQL a timestamptz.
	day := `substr(occurred_at, 1, 10)`
	if s.db.dialect != sqliteDialect {
		day = `to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
	}
	target, groupBy := `''`, `1, 2`
	if q.ByTarget {
		target, groupBy = `target`, `1, 2, 3`
	}
	var args []any
	var in []string
	for _, a := range q.Actions {
		args = append(args, a)
		in = append(in, "$"+strconv.Itoa(len(args)))
	}
	args = append(args, s.db.ts(q.Since), s.db.ts(q.Until))
	sq := `SELECT ` + day + ` AS day, action, ` + target + ` AS key, count(*) FROM audit_events
WHERE action IN (` + strings.Join(in, ", ") + `) AND occurred_at >= $` + strconv.Itoa(len(args)-1) +
		` AND occurred_at < $` + strconv.Itoa(len(args)) + `
GROUP BY ` + groupBy + ` ORDER BY ` + groupBy
	rows, err := s.db.sql.QueryContext(ctx, sq, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, func(r rowScanner) (store.AuditDayCount, error) {
		var c store.AuditDayCount
		var d string
		if err := r.Scan(&d, &c.Action, &c.Target, &c.N); err != nil {
			return c, err
		}
		var err error
		c.Day, err = time.Parse(time.DateOnly, d)
		return c, err
	})
}

type replay struct{ db *DB }

// replayUse inserts key $1 until $2, or takes over an entry expired at $3, in one
// statement: of concurrent uses of one key, the database lets exactly one change a
// row. Replay.Remember and SignIns.Record both record keys with it.
const replayUse = `INSERT INTO replay_cache (id, expires_at) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE replay_cache.expires_at <= $3`

func (s replay) Remember(ctx context.Context, key string, expiresAt, now time.Time) error {
	const op = "replay: remember"
	n, err := s.db.execCount(ctx, op, replayUse, key, s.db.ts(expiresAt), s.db.ts(now))
	if err != nil {
		return err
	}
	if n == 0 {
		return wrap(op, store.ErrAlreadyUsed)
	}
	return nil
}

func (s replay) Used(ctx context.Context, key string, now time.Time) (bool, error) {
	const op = "replay: used"
	st, err := s.db.stmt(ctx, `SELECT count(*) FROM replay_cache WHERE id = $1 AND expires_at > $2`)
	if err != nil {
		return false, wrap(op, err)
	}
	var n int
	if err := st.QueryRowContext(ctx, key, s.db.ts(now)).Scan(&n); err != nil {
		return false, wrap(op, err)
	}
	return n > 0, nil
}

func (s replay) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	return s.db.deleteExpired(ctx, "replay: delete expired", "replay_cache", "expires_at", before)
}
