package sqlstore

import (
	"context"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/broker/store"
)

// latestBatch bounds the (action, target) pairs of one query, well under both
// databases' limits on parameters and compound SELECTs.
const latestBatch = 100

// Latest is one UNION ALL of a LIMIT 1 query per (action, target) pair, each
// served by the audit_events_target index (target, occurred_at) read
// newest-first: however long the log, a pair costs an index probe and the
// walk back to its action's newest event. The target leads the ORDER BY, as a
// range, so that only that index serves the order (the audit page's action
// filter, audit.listQuery): left to its statistics, PostgreSQL may walk the
// time or the action index back instead, through every provider's sign-ins
// after this one's last, and did so for the audit page at 20M events.
func (s audit) Latest(ctx context.Context, actions, targets []string) ([]store.AuditEvent, error) {
	const op = "audit: latest"
	var pairs []latestPair
	for _, a := range actions {
		for _, t := range targets {
			pairs = append(pairs, latestPair{a, t})
		}
	}
	var out []store.AuditEvent
	for len(pairs) > 0 {
		batch := pairs[:min(len(pairs), latestBatch)]
		pairs = pairs[len(batch):]
		q, args := s.latestQuery(batch)
		rows, err := s.db.sql.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, wrap(op, err)
		}
		evs, err := collect(op, rows, func(r rowScanner) (store.AuditEvent, error) {
			var e store.AuditEvent
			err := r.Scan(&e.ID, tsd(&e.Time), &e.Actor, &e.Action, &e.Target, &e.IP, &e.RequestID, bd(&e.Details))
			return e, err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	return out, nil
}

type latestPair struct{ action, target string }

// latestQuery is Latest's query for pairs and its arguments.
func (s audit) latestQuery(pairs []latestPair) (string, []any) {
	// SQLite, without statistics, would as soon walk audit_events_action
	// back through every provider's sign-ins to find this one's; the target's
	// own events are the shorter walk.
	from := `audit_events`
	if s.db.dialect == sqliteDialect {
		from = `audit_events INDEXED BY audit_events_target`
	}
	var q strings.Builder
	args := make([]any, 0, 2*len(pairs))
	for i, p := range pairs {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		args = append(args, p.action, p.target)
		a, t := "$"+strconv.Itoa(2*i+1), "$"+strconv.Itoa(2*i+2)
		q.WriteString(`SELECT * FROM (SELECT id, occurred_at, actor, action, target, ip, request_id, details FROM ` + from + `
WHERE action = ` + a + ` AND target >= ` + t + ` AND target <= ` + t + `
ORDER BY target DESC, occurred_at DESC, id DESC LIMIT 1) AS l` + strconv.Itoa(i))
	}
	return q.String(), args
}
