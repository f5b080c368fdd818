// Package audit writes Gatehouse's audit log: who did what to which target, from
// where, when. Security-relevant events are written synchronously; high-volume
// issuance events are batched and group-committed so the hot token paths never wait
// on a database write. Batches the database refuses are held in memory, then in a
// local spill file, and written when it is back (durable.go).
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
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
	// appendBatch writes batches, retries and spill replays: st's AppendBatch
	// when it has one (store.AuditBatches), so that they never wait behind
	// the requests for a connection; else its Append.
	appendBatch func(ctx context.Context, events ...store.AuditEvent) error
	log         *slog.Logger
	now         func() time.Time

	// FlushInterval bounds how long a batched event waits; BatchSize how many are
	// written in one transaction.
	flushInterval time.Duration
	batchSize     int
	writeTimeout  time.Duration

	// idPrefix and seq make each event's EventID: unique to this Writer, so a
	// retried or replayed event is stored once (migration 0016).
	idPrefix string
	seq      atomic.Uint64

	held  heldEvents // batches the database refused, retried with backoff
	spill *spillFile // where held events go when the buffer is full; nil: none

	queue   chan store.AuditEvent
	flushes chan chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// Options tune batching and durability; zero values pick the defaults.
type Options struct {
	// FlushInterval (default 100 ms) is how long an enqueued event may wait in
	// memory before its batch is written; with the batch write under way, what
	// a kill -9 may lose while the database answers.
	FlushInterval time.Duration
	BatchSize     int // events per write (default 512)
	// WriteTimeout bounds one batch write (default 10 s); a database that hangs
	// longer counts as down.
	WriteTimeout time.Duration
	// MaxHeld bounds the events held in memory while the database is down
	// (default 8192); beyond it they go to SpillPath.
	MaxHeld int
	// RetryMax caps the backoff between retries of held events (default 5 s).
	RetryMax time.Duration
	// SpillPath is the local file (JSON lines) for held events beyond MaxHeld,
	// replayed into the database at start and when it is back. Empty: none, and
	// what the buffer cannot hold is logged at ERROR and lost.
	SpillPath string
	Now       func() time.Time
}

// NewWriter starts a Writer; Close flushes what is queued. A spill file that
// cannot be opened is logged at ERROR and done without: Open reports it instead.
func NewWriter(st store.Audit, log *slog.Logger, o Options) *Writer {
	w, err := Open(st, log, o)
	if err != nil {
		log.Error("audit: spill file unusable; events the database refuses beyond the memory buffer will be lost",
			"error", err.Error())
		o.SpillPath = ""
		w, _ = Open(st, log, o) // without a spill file Open cannot fail
	}
	return w
}

// Open starts a Writer as NewWriter does, but fails if the spill file cannot be
// opened, is readable by others, or is used by another process.
func Open(st store.Audit, log *slog.Logger, o Options) (*Writer, error) {
	w := &Writer{
		store: st, appendBatch: st.Append, log: log, now: o.Now,
		flushInterval: o.FlushInterval, batchSize: o.BatchSize, writeTimeout: o.WriteTimeout,
		flushes: make(chan chan struct{}), stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	if b, ok := st.(store.AuditBatches); ok {
		w.appendBatch = b.AppendBatch
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
	if w.writeTimeout <= 0 {
		w.writeTimeout = 10 * time.Second
	}
	w.held.max = o.MaxHeld
	if w.held.max <= 0 {
		w.held.max = 8192
	}
	retryMax := o.RetryMax
	if retryMax <= 0 {
		retryMax = 5 * time.Second
	}
	if o.SpillPath != "" {
		sf, err := openSpill(o.SpillPath)
		if err != nil {
			return nil, err
		}
		w.spill = sf
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	w.idPrefix = hex.EncodeToString(b[:]) + "-"
	w.queue = make(chan store.AuditEvent, 8*w.batchSize)
	go w.run(retryMax)
	return w, nil
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

// RecordOrHold writes ev as Record does, for an event whose action stands whether
// or not its record is written (a refusal, or a change already made): when the
// write fails, the database down or ctx ended, the event is held and written
// later like a refused batch rather than lost. It returns the write's error, for
// the caller's log.
func (w *Writer) RecordOrHold(ctx context.Context, ev Event) error {
	e, err := w.toStore(ev)
	if err != nil {
		return err
	}
	if err := w.store.Append(ctx, e); err != nil {
		select {
		case <-w.stop:
			w.keep([]store.AuditEvent{e})
		default:
			w.hold([]store.AuditEvent{e})
		}
		return err
	}
	w.logEvent(e)
	return nil
}

// Enqueue queues ev for the next group commit (within FlushInterval). It never
// waits on the database: when the queue is full the event is held with the
// refused batches (and spilled to the file when those are too many).
func (w *Writer) Enqueue(ev Event) {
	e, err := w.toStore(ev)
	if err != nil {
		w.log.Error("audit: unencodable event dropped", "action", ev.Action, "error", err.Error())
		return
	}
	select {
	case <-w.stop:
		// Closing: write directly so a late event is not stranded in the queue.
		w.writeAfterClose(e)
		return
	default:
	}
	select {
	case w.queue <- e:
	default:
		w.hold([]store.AuditEvent{e})
	}
}

// Flush returns once every event enqueued before it is stored (or, the database
// refusing it, held or spilled), waiting at most until ctx ends. It also retries
// the held events at once, whatever the backoff.
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

func (w *Writer) run(retryMax time.Duration) {
	defer close(w.stopped)
	if w.spill != nil {
		// After Close a late event the database refuses is logged as lost.
		defer func() {
			if err := w.spill.close(); err != nil {
				w.log.Error("audit: spill file close failed", "path", w.spill.path, "error", err.Error())
			}
		}()
	}
	t := time.NewTicker(w.flushInterval)
	defer t.Stop()
	r := newRetrier(w.flushInterval, retryMax)
	defer r.timer.Stop()
	batch := make([]store.AuditEvent, 0, w.batchSize)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if r.down {
			// Known down: hold without waiting on it; the retry timer probes.
			w.hold(batch)
		} else if err := w.write(batch); err != nil {
			w.log.Warn("audit: database write failed; holding the batch to retry", "events", len(batch), "error", err.Error())
			w.hold(batch)
			r.failed()
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
	// Events spilled before a restart (or a crash) go in first.
	w.retry(r)
	for {
		select {
		case e := <-w.queue:
			add(e)
		case <-t.C:
			// After a slow write both this tick and events queued during it
			// are ready: take them too, or they wait another interval.
			drain()
			flush()
			if !r.down && w.backlog() {
				w.retry(r) // overflow held while the database was answering
			}
		case <-r.timer.C:
			w.retry(r)
		case done := <-w.flushes:
			drain()
			flush()
			w.retry(r)
			close(done)
		case <-w.stop:
			drain()
			flush()
			if !r.down {
				w.retry(r)
			}
			w.keepHeld()
			return
		}
	}
}

// write stores events in one transaction, within the write timeout.
func (w *Writer) write(events []store.AuditEvent) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.writeTimeout)
	defer cancel()
	return w.appendBatch(ctx, events...)
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
		EventID: w.idPrefix + strconv.FormatUint(w.seq.Add(1), 36),
	}, nil
}

func (w *Writer) logEvent(e store.AuditEvent) {
	w.log.Info("audit", "action", e.Action, "actor", e.Actor, "target", e.Target, "ip", e.IP, "request_id", e.RequestID)
}
