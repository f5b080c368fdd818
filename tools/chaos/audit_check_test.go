package chaos

import (
	"fmt"
	"testing"
	"time"
)

// TestAuditCheckFailsOnARealLoss: the harness's audit check passes the events
// lost to a kill -9 in the batch window README promises (the flush interval and
// the batch write under way), and fails on a loss older than that or one that a
// later stored event of the same replica shows was not among the newest.
func TestAuditCheckFailsOnARealLoss(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	kill := t0.Add(10 * time.Second) // replica 0, killed for a second
	ms := func(d int) time.Time { return kill.Add(time.Duration(d) * time.Millisecond) }
	// issued is a batched token.issued sent at sent, acknowledged 5 ms later.
	issued := func(replica int, sent time.Time) ack {
		return ack{action: "token.issued", replica: replica, sent: sent, at: sent.Add(5 * time.Millisecond), batched: true}
	}
	for _, tc := range []struct {
		name       string
		acks       map[string]ack
		stored     []string // request IDs with their row
		violations int
	}{
		{"the newest lost in the window", map[string]ack{
			"old": issued(0, ms(-900)), "lost1": issued(0, ms(-150)), "lost2": issued(0, ms(-60)),
		}, []string{"old"}, 0},
		{"the other replica's events are no evidence", map[string]ack{
			"lost": issued(0, ms(-150)), "other": issued(1, ms(-100)),
		}, []string{"other"}, 0},
		{"an event sent after the kill, by the restarted process", map[string]ack{
			"lost": issued(0, ms(-150)), "after": issued(0, ms(1500)),
		}, []string{"after"}, 0},
		{"lost before the window", map[string]ack{
			"lost": issued(0, ms(-int(lossWindow.Milliseconds())-50)),
		}, nil, 1},
		{"lost though a later one was stored", map[string]ack{
			"lost": issued(0, ms(-200)), "later": issued(0, ms(-100)),
		}, []string{"later"}, 1},
		{"a consent is written before its answer", map[string]ack{
			"consent": {action: "consent.granted", replica: 0, sent: ms(-20), at: ms(-10)},
		}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &world{t: t, t0: t0, killed: []window{{kind: "kill -9", replica: 0, start: kill, end: kill.Add(time.Second)}}}
			l := newLedger()
			l.acks = tc.acks
			stored := map[[2]string]bool{}
			for _, id := range tc.stored {
				stored[[2]string{id, tc.acks[id].action}] = true
			}
			r := &report{t: t, t0: t0}
			checkAudit(w, l, stored, r)
			if len(r.violations) != tc.violations {
				t.Fatalf("%d violations, want %d: %s", len(r.violations), tc.violations, fmt.Sprint(r.violations))
			}
		})
	}
}
