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
// walk back to its action's newest event.
func (s audit) Latest(ctx context.Context, actions, targets []string) ([]store.AuditEvent, error) {
	const op = "audit: latest"
	type pair struct{ action, target string }
	var pairs []pair
	for _, a := range actions {
		for _, t := range targets {
			pairs = append(pairs, pair{a, t})
		}
	}
	// SQLite, without statistics, would as soon walk audit_events_action
	// back through every provider's sign-ins to find this one's; the target's
	// own events are the shorter walk. PostgreSQL chooses from statistics.
	from := `audit_events`
	if s.db.dialect == sqliteDialect {
		from = `audit_events INDEXED BY audit_events_target`
	}
	var out []store.AuditEvent
	for len(pairs) > 0 {
		batch := pairs[:min(len(pairs), latestBatch)]
		pairs = pairs[len(batch):]
		var q strings.Builder
		args := make([]any, 0, 2*len(batch))
		for i, p := range batch {
			if i > 0 {
				q.WriteString(" UNION ALL ")
			}
			args = append(args, p.action, p.target)
			n := strconv.Itoa(i)
			q.WriteString(`SELECT * FROM (SELECT id, occurred_at, actor, action, target, ip, request_id, details FROM ` + from + `
WHERE action = $` + strconv.Itoa(2*i+1) + ` AND target = $` + strconv.Itoa(2*i+2) + ` ORDER BY occurred_at DESC, id DESC LIMIT 1) AS l` + n)
		}
		rows, err := s.db.sql.QueryContext(ctx, q.String(), args...)
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
