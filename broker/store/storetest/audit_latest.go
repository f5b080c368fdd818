package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// testAuditLatest: Latest finds each (action, target) pair's newest event
// (the later appended of two at one time), and nothing for a pair without one.
func testAuditLatest(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	var events []store.AuditEvent
	for i, e := range []struct{ action, target string }{
		{"signin.succeeded", "corp"}, {"signin.refused", "corp"}, {"signin.succeeded", "corp"},
		{"signin.succeeded", "uni"}, {"signin.succeeded", "other"}, {"provider.added", "corp"},
	} {
		events = append(events, newEvent(i, "u", e.action, e.target))
	}
	events = append(events, newEvent(3, "u", "signin.succeeded", "uni")) // same time as #3, appended later
	must(t, "Append", s.Audit().Append(t.Context(), events...))
	got, err := s.Audit().Latest(t.Context(), []string{"signin.succeeded", "signin.refused"}, []string{"corp", "uni", "nobody"})
	must(t, "Latest", err)
	want := map[[2]string]time.Time{
		{"signin.succeeded", "corp"}: at(2 * time.Second),
		{"signin.refused", "corp"}:   at(time.Second),
		{"signin.succeeded", "uni"}:  at(3 * time.Second),
	}
	if len(got) != len(want) {
		t.Fatalf("Latest returned %d events, want %d: %+v", len(got), len(want), got)
	}
	var uni []store.AuditEvent
	for _, e := range got {
		w, ok := want[[2]string{e.Action, e.Target}]
		if !ok || !e.Time.Equal(w) {
			t.Errorf("event %s on %s at %s, want at %s", e.Action, e.Target, e.Time, w)
		}
		if e.Target == "uni" {
			uni = append(uni, e)
		}
	}
	if all, _ := s.Audit().List(t.Context(), store.AuditFilter{Target: "uni", Limit: 1}); len(uni) != 1 || len(all) != 1 || uni[0].ID != all[0].ID {
		t.Errorf("uni's latest %+v, want the later appended %+v", uni, all)
	}
	if none, err := s.Audit().Latest(t.Context(), nil, []string{"corp"}); err != nil || len(none) != 0 {
		t.Errorf("no actions: %v %v", none, err)
	}
}
