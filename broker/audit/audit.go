// Package audit writes Gatehouse's audit log: who did what to which target, from
// where, when. Security-relevant events are written synchronously; high-volume
// issuance events are batched and group-committed so the hot token paths never wait
// on a database write.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// Event is one audit entry before it is stored.
type Event struct {
	Actor     string
	Action    string
	Target    string
	IP        string
	RequestID string
	// Details are stored as JSON: usually a map[string]any; a hot path passes a
	// struct instead, which encodes without building and sorting a map.
	Details any
}

// Writer appends events to the audit store.
type Writer struct {
	store store.Audit
	log   *slog.Logger
	now   func() time.Time

	// FlushInterval bounds how long a batched event waits; BatchSize how many are
	// written in one transaction.
	flushInterval time.Duration
	batchSize     int

	queue   chan store.AuditEvent
	flushes chan chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// Options tune batching; zero values pick the defaults (100 ms, 512 events).
type Options struct {
	FlushInterval time.Duration
	BatchSize     int
	Now           func() time.Time
}

// NewWriter starts a Writer; Close flushes what is queued.
func NewWriter(st store.Audit, log *slog.Logger, o Options) *Writer {
	w := &Writer{
		store: st, log: log, now: o.Now,
		flushInterval: o.FlushInterval, batchSize: o.BatchSize,
		flushes: make(chan chan struct{}), stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.flushInterval <= 0 {
		w.flushInterval = 100 * time.Millisecond
	}
	if w.batchSize <= 0 {
		w.batchSize = 512
	}
	w.queue = make(chan store.AuditEvent, 8*w.batchSize)
	go w.run()
	return w
}

// Record writes ev now and returns only once it is stored: for consent, delegation,
// admin changes and refused attacks, whose record must not be lost in a crash.
func (w *Writer) Record(ctx context.Context, ev Event) error {
	return w.RecordTo(ctx, w.store, ev)
}

// RecordTo writes ev as Record does, but through st: the admin operations pass
// their transaction's store.Audit, so that the event is stored with the change it
// records or not at all. The log line is written once st has the row, before the
// caller commits.
func (w *Writer) RecordTo(ctx context.Context, st store.Audit, ev Event) error {
	e, err := w.toStore(ev)
	if err != nil {
		return err
	}
	if err := st.Append(ctx, e); err != nil {
		return err
	}
	w.logEvent(e)
	return nil
}

// Enqueue queues ev for the next group commit (within FlushInterval). When the queue
// is full it blocks rather than drop an audit record.
func (w *Writer) Enqueue(ev Event) {
	e, err := w.toStore(ev)
	if err != nil {
		w.log.Error("audit: unencodable event dropped", "action", ev.Action, "error", err.Error())
		return
	}
	select {
	case <-w.stop:
		// Closing: write directly so a late event is not stranded in the queue.
		if err := w.store.Append(context.Background(), e); err != nil {
			w.log.Error("audit: write after close failed", "action", e.Action, "error", err.Error())
		}
		return
	default:
	}
	select {
	case w.queue <- e:
	case <-w.stopped:
		if err := w.store.Append(context.Background(), e); err != nil {
			w.log.Error("audit: write after close failed", "action", e.Action, "error", err.Error())
		}
	}
}

// Flush returns once every event enqueued before it is stored (or its write has
// failed and been logged), waiting at most until ctx ends.
func (w *Writer) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case w.flushes <- done:
	case <-w.stopped:
		return nil // closed: everything was flushed then, later events are written at once
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close flushes every queued event, waiting at most until ctx ends.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() { close(w.stop) })
	select {
	case <-w.stopped:
		return nil
	case <-ctx.Done():
		return errors.New("audit: close: queued events not flushed before the deadline")
	}
}

func (w *Writer) run() {
	defer close(w.stopped)
	t := time.NewTicker(w.flushInterval)
	defer t.Stop()
	batch := make([]store.AuditEvent, 0, w.batchSize)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := w.store.Append(ctx, batch...)
		cancel()
		if err != nil {
			// Keep the record in the log at least, the only other durable place.
			w.log.Error("audit: batch write failed", "events", len(batch), "error", err.Error())
			for _, e := range batch {
				w.logEvent(e)
			}
		}
		batch = batch[:0]
	}
	add := func(e store.AuditEvent) {
		batch = append(batch, e)
		if len(batch) >= w.batchSize {
			flush()
		}
	}
	// drain takes every event already queued.
	drain := func() {
		for {
			select {
			case e := <-w.queue:
				add(e)
			default:
				return
			}
		}
	}
	for {
		select {
		case e := <-w.queue:
			add(e)
		case <-t.C:
			flush()
		case done := <-w.flushes:
			drain()
			flush()
			close(done)
		case <-w.stop:
			drain()
			flush()
			return
		}
	}
}

func (w *Writer) toStore(ev Event) (store.AuditEvent, error) {
	var details []byte
	if ev.Details != nil {
		b, err := json.Marshal(ev.Details)
		if err != nil {
			return store.AuditEvent{}, err
		}
		if s := string(b); s != "null" && s != "{}" { // no details: NULL, as before
			details = b
		}
	}
	return store.AuditEvent{
		Time: w.now().UTC(), Actor: ev.Actor, Action: ev.Action, Target: ev.Target,
		IP: ev.IP, RequestID: ev.RequestID, Details: details,
	}, nil
}

func (w *Writer) logEvent(e store.AuditEvent) {
	w.log.Info("audit", "action", e.Action, "actor", e.Actor, "target", e.Target, "ip", e.IP, "request_id", e.RequestID)
}
