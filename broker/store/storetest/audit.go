package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

func newEvent(i int, actor, action, target string) store.AuditEvent {
	return store.AuditEvent{
		Time:      at(time.Duration(i) * time.Second),
		Actor:     actor,
		Action:    action,
		Target:    target,
		IP:        "192.0.2.1",
		RequestID: fmt.Sprint("req-", i),
		Details:   []byte(fmt.Sprintf(`{"i":%d}`, i)),
	}
}

// requestNumbers are the numbers of newEvent's request IDs, in order.
func requestNumbers(events []store.AuditEvent) []int {
	var reqs []int
	for _, e := range events {
		var n int
		_, _ = fmt.Sscanf(e.RequestID, "req-%d", &n) // a mismatch shows in the comparison
		reqs = append(reqs, n)
	}
	return reqs
}

func testAudit(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("AppendList", func(t *testing.T) {
		s := open(t)
		events := []store.AuditEvent{
			newEvent(1, "alice", "client.create", "c1"),
			newEvent(2, "bob", "client.delete", "c1"),
			newEvent(2, "alice", "user.disable", "u9"), // same time: appended later, listed first
		}
		must(t, "Append", s.Audit().Append(t.Context(), events[0]))
		must(t, "Append", s.Audit().Append(t.Context(), events[1:]...))
		must(t, "Append nothing", s.Audit().Append(t.Context()))
		got, err := s.Audit().List(t.Context(), store.AuditFilter{})
		must(t, "List", err)
		if len(got) != 3 {
			t.Fatalf("List returned %d events, want 3", len(got))
		}
		if !(got[2].ID > 0 && got[1].ID > got[2].ID && got[0].ID > got[1].ID) {
			t.Errorf("IDs %d, %d, %d: want increasing with every append", got[2].ID, got[1].ID, got[0].ID)
		}
		for i, want := range []store.AuditEvent{events[2], events[1], events[0]} {
			want.ID = got[i].ID
			same(t, fmt.Sprint("event ", i), got[i], want)
		}
	})
	t.Run("AppendOnceByEventID", func(t *testing.T) {
		// A batch retried after a lost commit answer, or a spill file replayed
		// after a crash before its truncation, stores nothing twice (issue 14).
		s := open(t)
		a, b := newEvent(1, "alice", "client.create", "c1"), newEvent(2, "bob", "client.delete", "c1")
		a.EventID, b.EventID = "w1-1", "w1-2"
		noID := newEvent(3, "carol", "client.update", "c1")
		must(t, "Append", s.Audit().Append(t.Context(), a, noID))
		must(t, "Append again", s.Audit().Append(t.Context(), a, b, noID))
		must(t, "Append a batch repeating an ID", s.Audit().Append(t.Context(), b, b))
		got, err := s.Audit().List(t.Context(), store.AuditFilter{})
		must(t, "List", err)
		// Events without an ID are not checked: noID twice.
		if reqs := requestNumbers(got); fmt.Sprint(reqs) != "[3 3 2 1]" {
			t.Fatalf("stored request numbers %v, want [3 3 2 1]: each event ID once", reqs)
		}
	})
	t.Run("Filter", func(t *testing.T) {
		s := open(t)
		var events []store.AuditEvent
		for i := range 10 {
			actor := []string{"alice", "bob"}[i%2]
			action := []string{"login", "logout", "client.update"}[i%3]
			events = append(events, newEvent(i, actor, action, fmt.Sprint("t", i%4)))
		}
		must(t, "Append", s.Audit().Append(t.Context(), events...))
		for _, tc := range []struct {
			name   string
			filter store.AuditFilter
			want   []int // request numbers, newest first
		}{
			{"all", store.AuditFilter{}, []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
			{"actor", store.AuditFilter{Actor: "bob"}, []int{9, 7, 5, 3, 1}},
			{"action", store.AuditFilter{Action: "logout"}, []int{7, 4, 1}},
			{"target", store.AuditFilter{Target: "t1"}, []int{9, 5, 1}},
			{"since", store.AuditFilter{Since: at(7 * time.Second)}, []int{9, 8, 7}},
			{"limit", store.AuditFilter{Limit: 2}, []int{9, 8}},
			{"combined", store.AuditFilter{Actor: "alice", Action: "login", Since: at(time.Second)}, []int{6}},
			{"no match", store.AuditFilter{Actor: "carol"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.Audit().List(t.Context(), tc.filter)
				must(t, "List", err)
				same(t, "events", requestNumbers(got), tc.want)
			})
		}
	})
	t.Run("Cursor", func(t *testing.T) {
		// Pages of two through events with equal times (ordered by ID) and a
		// filter: each page continues exactly after the previous one.
		s := open(t)
		var events []store.AuditEvent
		for i := range 7 {
			e := newEvent(i, "alice", "login", []string{"d1", "d2"}[i%3/2])
			e.Time = at(time.Duration(i/2) * time.Second)
			events = append(events, e)
		}
		must(t, "Append", s.Audit().Append(t.Context(), events...))
		var got []string
		f := store.AuditFilter{Target: "d1", Limit: 2}
		for range 10 {
			page, err := s.Audit().List(t.Context(), f)
			must(t, "List", err)
			for _, e := range page {
				got = append(got, e.RequestID)
			}
			if len(page) < f.Limit {
				break
			}
			f.After = page[len(page)-1].Cursor()
		}
		same(t, "pages", got, []string{"req-6", "req-4", "req-3", "req-1", "req-0"})
	})
	t.Run("AdminFilters", func(t *testing.T) {
		// The audit log page's filters: a person as actor or target, a
		// provider, a client, the outcome and a time range [Since, Until).
		s := open(t)
		events := []store.AuditEvent{
			newEvent(0, "u1", "signin.succeeded", "corp"),
			newEvent(1, "anonymous", "signin.refused", "corp"),
			newEvent(2, "u2", "signin.succeeded", "uni"),
			newEvent(3, "client:app", "token.issued", "u1"),
			newEvent(4, "client:app", "oauth.rejected", "/oauth2/token"),
			newEvent(5, "u1", "consent.granted", "app"),
			newEvent(6, "admin", "client.updated", "app"),
			newEvent(7, "admin", "provider.updated", "corp"),
			newEvent(8, "u2", "identity.link_refused", "corp"),
			newEvent(9, "admin", "role.granted", "corp"), // target "corp" is a user here, not the provider
		}
		must(t, "Append", s.Audit().Append(t.Context(), events...))
		for _, tc := range []struct {
			name   string
			filter store.AuditFilter
			want   []int
		}{
			{"person", store.AuditFilter{People: []string{"u1"}}, []int{5, 3, 0}},
			{"people", store.AuditFilter{People: []string{"u1", "u2"}}, []int{8, 5, 3, 2, 0}},
			{"nobody", store.AuditFilter{People: []string{}}, nil},
			{"provider", store.AuditFilter{Provider: "corp"}, []int{8, 7, 1, 0}},
			{"client", store.AuditFilter{Client: "app"}, []int{6, 5, 4, 3}},
			{"refusals", store.AuditFilter{Outcome: store.OutcomeRefusal}, []int{8, 4, 1}},
			{"successes", store.AuditFilter{Outcome: store.OutcomeSuccess}, []int{9, 7, 6, 5, 3, 2, 0}},
			{"range", store.AuditFilter{Since: at(2 * time.Second), Until: at(5 * time.Second)}, []int{4, 3, 2}},
			{"provider refusals", store.AuditFilter{Provider: "corp", Outcome: store.OutcomeRefusal}, []int{8, 1}},
			{"person, provider and range", store.AuditFilter{People: []string{"u1", "u2"}, Provider: "corp",
				Since: at(time.Second)}, []int{8}},
			{"client and action", store.AuditFilter{Client: "app", Action: "token.issued"}, []int{3}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.Audit().List(t.Context(), tc.filter)
				must(t, "List", err)
				same(t, "events", requestNumbers(got), tc.want)
				n, err := s.Audit().Count(t.Context(), tc.filter, 100)
				must(t, "Count", err)
				if n != len(tc.want) {
					t.Errorf("Count = %d, want %d", n, len(tc.want))
				}
			})
		}
		n, err := s.Audit().Count(t.Context(), store.AuditFilter{}, 4)
		must(t, "Count at most 4", err)
		if n != 4 {
			t.Errorf("Count at most 4 = %d", n)
		}
	})
	t.Run("CursorWithFilters", func(t *testing.T) {
		// Pages of three through refusals of one provider, many at equal
		// times: every matching event exactly once, in order.
		s := open(t)
		var events []store.AuditEvent
		var want []int
		for i := range 40 {
			action := []string{"signin.refused", "signin.succeeded"}[i%2]
			e := newEvent(i, "anonymous", action, []string{"corp", "uni"}[i%5/4])
			e.Time = at(time.Duration(i/4) * time.Second)
			events = append(events, e)
			if i%2 == 0 && i%5 != 4 {
				want = append([]int{i}, want...)
			}
		}
		must(t, "Append", s.Audit().Append(t.Context(), events...))
		f := store.AuditFilter{Provider: "corp", Outcome: store.OutcomeRefusal, Limit: 3}
		var got []int
		for range 40 {
			page, err := s.Audit().List(t.Context(), f)
			must(t, "List", err)
			got = append(got, requestNumbers(page)...)
			if len(page) < f.Limit {
				break
			}
			f.After = page[len(page)-1].Cursor()
		}
		same(t, "pages", got, want)
	})
	t.Run("ActionCursorInRange", func(t *testing.T) {
		// The filter by action the audit_events_action index serves (migration
		// 0015): pages of three through one action in [Since, Until), many
		// events at equal times, interleaved with other actions: every
		// matching event exactly once, newest first, equal times by ID.
		s := open(t)
		var events []store.AuditEvent
		var want []int
		for i := range 60 {
			action := []string{"token.issued", "signin.succeeded", "token.refused"}[i%3]
			e := newEvent(i, "client:app", action, "u1")
			e.Time = at(time.Duration(i/6) * time.Second)
			events = append(events, e)
			if i%3 == 0 && i >= 12 && i < 48 { // seconds 2 to 7
				want = append([]int{i}, want...)
			}
		}
		must(t, "Append", s.Audit().Append(t.Context(), events...))
		f := store.AuditFilter{Action: "token.issued", Since: at(2 * time.Second), Until: at(8 * time.Second), Limit: 3}
		var got []int
		for range 60 {
			page, err := s.Audit().List(t.Context(), f)
			must(t, "List", err)
			got = append(got, requestNumbers(page)...)
			if len(page) < f.Limit {
				break
			}
			f.After = page[len(page)-1].Cursor()
		}
		same(t, "pages", got, want)
	})
	t.Run("CountByDay", func(t *testing.T) {
		s := open(t)
		day := time.Date(2031, 3, 4, 0, 0, 0, 0, time.UTC)
		ev := func(at time.Time, action, target string) store.AuditEvent {
			return store.AuditEvent{Time: at, Actor: "x", Action: action, Target: target}
		}
		must(t, "Append", s.Audit().Append(t.Context(),
			ev(day.Add(-time.Microsecond), "signin.succeeded", "corp"), // the day before: outside
			ev(day, "signin.succeeded", "corp"),
			ev(day.Add(23*time.Hour), "signin.succeeded", "corp"),
			ev(day.Add(2*time.Hour), "signin.succeeded", "uni"),
			ev(day.Add(3*time.Hour), "signin.refused", "corp"),
			// 00:30 in CET is 23:30 UTC the day before: days are UTC.
			ev(time.Date(2031, 3, 5, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "signin.succeeded", "uni"),
			ev(day.Add(25*time.Hour), "token.issued", "u1"),
			ev(day.Add(26*time.Hour), "token.issued", "u2"),
			ev(day.Add(26*time.Hour), "session.ended", "s1"),      // not asked for
			ev(day.Add(48*time.Hour), "signin.succeeded", "corp"), // Until: outside
		))
		got, err := s.Audit().CountByDay(t.Context(), store.AuditDayQuery{
			Actions: []string{"signin.succeeded", "signin.refused"}, Since: day, Until: day.Add(48 * time.Hour), ByTarget: true})
		must(t, "CountByDay by target", err)
		same(t, "sign-ins", got, []store.AuditDayCount{
			{Day: day, Action: "signin.refused", Target: "corp", N: 1},
			{Day: day, Action: "signin.succeeded", Target: "corp", N: 2},
			{Day: day, Action: "signin.succeeded", Target: "uni", N: 2},
		})
		got, err = s.Audit().CountByDay(t.Context(), store.AuditDayQuery{
			Actions: []string{"token.issued"}, Since: day, Until: day.Add(48 * time.Hour)})
		must(t, "CountByDay", err)
		same(t, "tokens", got, []store.AuditDayCount{{Day: day.Add(24 * time.Hour), Action: "token.issued", N: 2}})
	})
	t.Run("DefaultLimit", func(t *testing.T) {
		// Also appends more events at once than one INSERT may carry.
		s := open(t)
		events := make([]store.AuditEvent, 250)
		for i := range events {
			events[i] = newEvent(i, "alice", "login", "u1")
		}
		must(t, "Append", s.Audit().Append(t.Context(), events...))
		got, err := s.Audit().List(t.Context(), store.AuditFilter{})
		must(t, "List", err)
		if len(got) != 100 || got[0].RequestID != "req-249" {
			t.Errorf("List returned %d events starting with %q, want 100 starting with req-249", len(got), got[0].RequestID)
		}
		got, err = s.Audit().List(t.Context(), store.AuditFilter{Limit: 1000})
		must(t, "List", err)
		if len(got) != 250 {
			t.Errorf("List returned %d events, want 250", len(got))
		}
	})
}

func testReplay(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Remember", func(t *testing.T) {
		s := open(t)
		must(t, "Remember", s.Replay().Remember(t.Context(), "jti-1", at(time.Minute), at(0)))
		err := s.Replay().Remember(t.Context(), "jti-1", at(time.Minute), at(time.Second))
		wantErr(t, "Remember again", err, store.ErrAlreadyUsed)
		must(t, "Remember another key", s.Replay().Remember(t.Context(), "jti-2", at(time.Minute), at(time.Second)))
	})
	t.Run("RememberExpired", func(t *testing.T) {
		s := open(t)
		must(t, "Remember", s.Replay().Remember(t.Context(), "jti-1", at(time.Minute), at(0)))
		// Once expired, the entry may be taken again, with the new expiry.
		must(t, "Remember after expiry", s.Replay().Remember(t.Context(), "jti-1", at(time.Hour), at(time.Minute)))
		err := s.Replay().Remember(t.Context(), "jti-1", at(time.Hour), at(30*time.Minute))
		wantErr(t, "Remember before the new expiry", err, store.ErrAlreadyUsed)
	})
	t.Run("RememberConcurrent", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			existing bool // an expired entry exists
		}{{"new", false}, {"expired", true}} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				if tc.existing {
					must(t, "Remember", s.Replay().Remember(t.Context(), "k", at(0), at(-time.Minute)))
				}
				errs := race(concurrency, func(int) error {
					return s.Replay().Remember(t.Context(), "k", at(time.Hour), at(time.Second))
				})
				if ok, used := tally(t, errs, store.ErrAlreadyUsed); ok != 1 || used != concurrency-1 {
					t.Errorf("%d calls stored the key and %d got ErrAlreadyUsed, want 1 and %d", ok, used, concurrency-1)
				}
			})
		}
	})
	t.Run("DeleteExpired", func(t *testing.T) {
		s := open(t)
		must(t, "Remember", s.Replay().Remember(t.Context(), "old", at(time.Minute), at(0)))
		must(t, "Remember", s.Replay().Remember(t.Context(), "new", at(time.Hour), at(0)))
		n, err := s.Replay().DeleteExpired(t.Context(), at(2*time.Minute))
		must(t, "DeleteExpired", err)
		if n != 1 {
			t.Errorf("DeleteExpired deleted %d, want 1", n)
		}
		err = s.Replay().Remember(t.Context(), "new", at(2*time.Hour), at(2*time.Minute))
		wantErr(t, "Remember the kept key", err, store.ErrAlreadyUsed)
	})
}
