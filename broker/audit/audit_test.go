package audit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func openAudit(t *testing.T) store.Audit {
	t.Helper()
	db := testsupport.OpenSQLite(t)
	return db.Audit()
}

func list(t *testing.T, a store.Audit) []store.AuditEvent {
	t.Helper()
	evs, err := a.List(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestRecordIsStoredBeforeItReturns(t *testing.T) {
	a := openAudit(t)
	w := NewWriter(a, slog.New(slog.DiscardHandler), Options{FlushInterval: time.Hour, Now: func() time.Time { return t0 }})
	defer w.Close(context.Background())
	err := w.Record(context.Background(), Event{Actor: "user:alice", Action: "consent.granted", Target: "client:web",
		IP: "192.0.2.1", RequestID: "req-1", Details: map[string]any{"scopes": []string{"read"}}})
	if err != nil {
		t.Fatal(err)
	}
	evs := list(t, a)
	if len(evs) != 1 {
		t.Fatalf("want 1 event, got %d", len(evs))
	}
	e := evs[0]
	if e.Actor != "user:alice" || e.Action != "consent.granted" || e.Target != "client:web" || e.IP != "192.0.2.1" ||
		e.RequestID != "req-1" || !e.Time.Equal(t0) || string(e.Details) != `{"scopes":["read"]}` {
		t.Fatalf("stored %+v", e)
	}
}

func TestEnqueueGroupCommits(t *testing.T) {
	a := openAudit(t)
	counting := &countingAudit{Audit: a}
	w := NewWriter(counting, slog.New(slog.DiscardHandler), Options{FlushInterval: 50 * time.Millisecond, BatchSize: 100})
	for i := range 250 {
		w.Enqueue(Event{Action: "token.issued", Target: "client:svc", Details: map[string]any{"n": i}})
	}
	// Full batches are written at once; the rest within the flush interval.
	deadline := time.Now().Add(5 * time.Second)
	for len(list(t, a)) < 250 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(list(t, a)); n != 250 {
		t.Fatalf("after the flush interval %d of 250 events are stored", n)
	}
	if calls := counting.calls(); calls > 5 {
		t.Errorf("250 events took %d writes; want them grouped (≤ 5)", calls)
	}
	w.Close(context.Background())
}

func TestCloseFlushesTheQueue(t *testing.T) {
	a := openAudit(t)
	w := NewWriter(a, slog.New(slog.DiscardHandler), Options{FlushInterval: time.Hour})
	for range 10 {
		w.Enqueue(Event{Action: "token.issued"})
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(list(t, a)); n != 10 {
		t.Fatalf("Close left %d of 10 events unwritten", 10-n)
	}
	w.Enqueue(Event{Action: "late"}) // after Close: written directly, not stranded
	if n := len(list(t, a)); n != 11 {
		t.Fatalf("an event enqueued after Close was lost")
	}
}

func TestFailedBatchWithNowhereToGoIsLoggedAtError(t *testing.T) {
	var logs testsupport.LockedBuffer
	// GATEHOUSE_LOG_LEVEL=warn must not hide a lost event (issue 14).
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w := NewWriter(failingAudit{}, log, Options{FlushInterval: time.Hour})
	w.Enqueue(Event{Action: "token.issued", Actor: "client:svc", Target: "user-1", IP: "192.0.2.1", RequestID: "req-9",
		Details: map[string]any{"jti": "j-1"}})
	w.Close(context.Background())
	for _, want := range []string{`"level":"ERROR"`, `"msg":"audit: event not stored"`, `"action":"token.issued"`,
		`"actor":"client:svc"`, `"target":"user-1"`, `"ip":"192.0.2.1"`, `"request_id":"req-9"`, `"details":"{\"jti\":\"j-1\"}"`} {
		if !bytes.Contains(logs.Bytes(), []byte(want)) {
			t.Errorf("the lost event's log line lacks %s:\n%s", want, logs.Bytes())
		}
	}
	if err := w.Record(context.Background(), Event{Action: "x"}); err == nil {
		t.Fatal("Record hid a failed write")
	}
}

type countingAudit struct {
	store.Audit
	mu sync.Mutex
	n  int
}

func (c *countingAudit) Append(ctx context.Context, evs ...store.AuditEvent) error {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.Audit.Append(ctx, evs...)
}

func (c *countingAudit) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

type failingAudit struct{ store.Audit }

func (failingAudit) Append(context.Context, ...store.AuditEvent) error {
	return errors.New("database is down")
}

func TestFlushWritesWhatWasEnqueued(t *testing.T) {
	a := openAudit(t)
	w := NewWriter(a, slog.New(slog.DiscardHandler), Options{FlushInterval: time.Hour})
	defer w.Close(context.Background())
	for range 3 {
		w.Enqueue(Event{Action: "signin.succeeded"})
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(list(t, a)); n != 3 {
		t.Fatalf("after Flush %d of 3 events are stored", n)
	}
}

// Details may be a map or a struct; none, nil or empty, is stored as NULL.
func TestDetailsEncoding(t *testing.T) {
	var nilMap map[string]any
	type hot struct {
		JTI string `json:"jti"`
	}
	for _, tc := range []struct {
		details any
		want    string
	}{
		{nil, ""}, {nilMap, ""}, {map[string]any{}, ""}, {struct{}{}, ""},
		{map[string]any{"b": 1, "a": "x"}, `{"a":"x","b":1}`}, {hot{JTI: "j"}, `{"jti":"j"}`},
	} {
		w := &Writer{now: func() time.Time { return t0 }}
		e, err := w.toStore(Event{Action: "x", Details: tc.details})
		if err != nil || string(e.Details) != tc.want || (tc.want == "" && e.Details != nil) {
			t.Errorf("%#v: stored %q, %v; want %q", tc.details, e.Details, err, tc.want)
		}
	}
}

// slowAudit is a store.Audit whose first write waits for release, as a slow
// commit; it records when each write starts and what it holds.
type slowAudit struct {
	store.Audit
	started chan struct{} // closed when the first write starts
	release chan struct{}
	mu      sync.Mutex
	writes  []slowWrite
}

type slowWrite struct {
	at      time.Time
	targets []string
}

func (s *slowAudit) Append(ctx context.Context, evs ...store.AuditEvent) error {
	s.mu.Lock()
	first := len(s.writes) == 0
	wr := slowWrite{at: time.Now()}
	for _, e := range evs {
		wr.targets = append(wr.targets, e.Target)
	}
	s.writes = append(s.writes, wr)
	s.mu.Unlock()
	if first {
		close(s.started)
		<-s.release
	}
	return nil
}

// writeOf is when the write holding target started, if one did.
func (s *slowAudit) writeOf(target string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, wr := range s.writes {
		for _, t := range wr.targets {
			if t == target {
				return wr.at, true
			}
		}
	}
	return time.Time{}, false
}

// An event enqueued while a batch write is slow goes in the write that follows
// it at once, not one flush interval later: after the slow write the writer
// found both the queued event and the tick that fell due meanwhile, and when it
// took the tick first it flushed without the event (issue 14: the kill -9
// window is the flush interval and the batch write, not two intervals).
func TestEventQueuedDuringASlowWriteIsInTheNextWrite(t *testing.T) {
	const flush = 200 * time.Millisecond
	for round := range 6 { // the writer's choice was random: each round half the chance
		s := &slowAudit{started: make(chan struct{}), release: make(chan struct{})}
		w := NewWriter(s, slog.New(slog.DiscardHandler), Options{FlushInterval: flush})
		w.Enqueue(Event{Action: "token.issued", Target: "first"})
		<-s.started
		w.Enqueue(Event{Action: "token.issued", Target: "queued"})
		time.Sleep(flush + flush/4) // a tick falls due during the write, the next well after it
		released := time.Now()
		close(s.release)
		deadline := time.Now().Add(5 * time.Second)
		at, ok := s.writeOf("queued")
		for ; !ok && time.Now().Before(deadline); at, ok = s.writeOf("queued") {
			time.Sleep(time.Millisecond)
		}
		w.Close(context.Background())
		if !ok {
			t.Fatalf("round %d: the queued event was never written", round)
		}
		t.Logf("round %d: written %v after the slow write", round, at.Sub(released).Round(time.Millisecond))
		if d := at.Sub(released); d > flush/2 {
			t.Fatalf("round %d: the event queued during a slow write was written %v after it ended, want at once (< %v)",
				round, d.Round(time.Millisecond), flush/2)
		}
	}
}
