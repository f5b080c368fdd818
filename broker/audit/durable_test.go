package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// outage is a store.Audit whose writes fail while down, as a database that is
// stopped or unreachable; with lostAnswers > 0 the next writes are stored but
// reported failed, as a commit whose answer never came back.
type outage struct {
	store.Audit
	mu          sync.Mutex
	down        bool
	lostAnswers int
	hang        chan struct{} // non-nil: writes wait for it to close (a hung database)
}

func (o *outage) Append(ctx context.Context, evs ...store.AuditEvent) error {
	o.mu.Lock()
	down, hang := o.down, o.hang
	lost := o.lostAnswers > 0
	if lost {
		o.lostAnswers--
	}
	o.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if down {
		return errors.New("connection refused")
	}
	if err := o.Audit.Append(ctx, evs...); err != nil {
		return err
	}
	if lost {
		return errors.New("connection reset before the commit's answer")
	}
	return nil
}

func (o *outage) set(f func(o *outage)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f(o)
}

// requireEachOnce fails unless the store holds exactly one event per request ID
// req-0 … req-(n-1).
func requireEachOnce(t *testing.T, a store.Audit, n int) {
	t.Helper()
	evs, err := a.List(context.Background(), store.AuditFilter{Limit: 10 * n})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.RequestID]++
	}
	for i := range n {
		if c := seen[fmt.Sprint("req-", i)]; c != 1 {
			t.Errorf("req-%d stored %d times, want once", i, c)
		}
	}
	if len(evs) != n {
		t.Fatalf("%d rows for %d acknowledged events", len(evs), n)
	}
}

func enqueueN(w *Writer, from, n int) {
	for i := from; i < from+n; i++ {
		w.Enqueue(Event{Actor: "client:svc", Action: "token.issued", Target: "u1", RequestID: fmt.Sprint("req-", i),
			Details: map[string]any{"n": i}})
	}
}

func TestAuditHeldDuringOutageIsWrittenOnceWhenTheDatabaseIsBack(t *testing.T) {
	a := openAudit(t)
	o := &outage{Audit: a, down: true}
	w := NewWriter(o, slog.New(slog.DiscardHandler), Options{FlushInterval: time.Hour, BatchSize: 50})
	defer w.Close(context.Background())
	const n = 300
	enqueueN(w, 0, n)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(list(t, a)); got != 0 {
		t.Fatalf("%d rows written to a database that is down", got)
	}
	// Back, but the first write's answer is lost after its commit: the retry
	// must not store that batch twice.
	o.set(func(o *outage) { o.down, o.lostAnswers = false, 1 })
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	requireEachOnce(t, a, n)
}

func TestAuditSpillFileReplayedAtStartOnce(t *testing.T) {
	a := openAudit(t)
	o := &outage{Audit: a, down: true}
	spill := filepath.Join(t.TempDir(), "audit.spill")
	var logs testsupport.LockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	w, err := Open(o, log, Options{FlushInterval: time.Hour, BatchSize: 20, MaxHeld: 30, SpillPath: spill})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	enqueueN(w, 0, n)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Past MaxHeld the events are on disk already, before Close.
	if st, err := os.Stat(spill); err != nil || st.Size() == 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("spill file after the buffer filled: %v, %v; want a non-empty file of mode 0600", st, err)
	}
	if _, err := Open(a, log, Options{SpillPath: spill}); err == nil {
		t.Fatal("a second writer opened a spill file in use")
	}
	// Stopped while the database is down: the rest is spilled too.
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(list(t, a)); got != 0 {
		t.Fatalf("%d rows written to a database that is down", got)
	}
	spilled, err := os.ReadFile(spill)
	if err != nil || bytes.Count(spilled, []byte("\n")) != n {
		t.Fatalf("spill file holds %d lines (%v), want %d", bytes.Count(spilled, []byte("\n")), err, n)
	}

	// The next start, the database up: replayed, then truncated.
	w2, err := Open(a, log, Options{FlushInterval: time.Hour, BatchSize: 20, SpillPath: spill})
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	requireEachOnce(t, a, n)
	if st, err := os.Stat(spill); err != nil || st.Size() != 0 {
		t.Fatalf("spill file not truncated after its replay: %v, %v", st, err)
	}
	if err := w2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A crash between the replay's inserts and the truncation leaves the file
	// whole: replaying it again stores nothing twice.
	if err := os.WriteFile(spill, spilled, 0o600); err != nil {
		t.Fatal(err)
	}
	w3, err := Open(a, log, Options{FlushInterval: time.Hour, SpillPath: spill})
	if err != nil {
		t.Fatal(err)
	}
	if err := w3.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	requireEachOnce(t, a, n)
	if bytes.Contains(logs.Bytes(), []byte(`"level":"ERROR"`)) {
		t.Fatalf("an error was logged though nothing was lost:\n%s", logs.Bytes())
	}
}

func TestAuditSpillFileReadableByOthersIsRefused(t *testing.T) {
	spill := filepath.Join(t.TempDir(), "audit.spill")
	if err := os.WriteFile(spill, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(openAudit(t), slog.New(slog.DiscardHandler), Options{SpillPath: spill}); err == nil {
		t.Fatal("opened a spill file others can read")
	}
}

func TestAuditUnwritableSpillFileLogsTheEventAtError(t *testing.T) {
	var logs testsupport.LockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	spill := filepath.Join(t.TempDir(), "missing-dir", "audit.spill")
	w := NewWriter(&outage{Audit: openAudit(t), down: true}, log, Options{FlushInterval: time.Hour, SpillPath: spill})
	w.Enqueue(Event{Actor: "user:alice", Action: "consent.granted", Target: "client:web", RequestID: "req-1"})
	w.Close(context.Background())
	for _, want := range []string{"audit: spill file unusable", `"msg":"audit: event not stored"`, `"action":"consent.granted"`,
		`"actor":"user:alice"`, `"request_id":"req-1"`} {
		if !bytes.Contains(logs.Bytes(), []byte(want)) {
			t.Errorf("log lacks %s:\n%s", want, logs.Bytes())
		}
	}
}

// A hung database fills the queue: Enqueue, on every token request's path,
// must still return (SECURITY/issue 14: a full audit queue never blocks a token
// request), and nothing is lost once it thaws.
func TestAuditEnqueueDoesNotWaitOnAHungDatabase(t *testing.T) {
	a := openAudit(t)
	hang := make(chan struct{})
	o := &outage{Audit: a, hang: hang}
	w, err := Open(o, slog.New(slog.DiscardHandler), Options{FlushInterval: time.Millisecond, BatchSize: 4, MaxHeld: 16,
		WriteTimeout: time.Hour, SpillPath: filepath.Join(t.TempDir(), "audit.spill")})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500 // far more than the queue (32) and the buffer (16) hold
	done := make(chan struct{})
	go func() { defer close(done); enqueueN(w, 0, n) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Enqueue blocked on a hung database")
	}
	o.set(func(o *outage) { o.hang = nil })
	close(hang)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	requireEachOnce(t, a, n)
}

// A refusal or a change that stands without its record being written yet: the
// record is held and written once the database is back.
func TestAuditRecordOrHoldKeepsWhatTheDatabaseRefused(t *testing.T) {
	a := openAudit(t)
	o := &outage{Audit: a, down: true}
	w := NewWriter(o, slog.New(slog.DiscardHandler), Options{FlushInterval: time.Hour})
	defer w.Close(context.Background())
	if err := w.RecordOrHold(context.Background(), Event{Action: "oauth.rejected", RequestID: "req-0"}); err == nil {
		t.Fatal("RecordOrHold hid the failed write from its caller")
	}
	o.set(func(o *outage) { o.down = false })
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	requireEachOnce(t, a, 1)
}
