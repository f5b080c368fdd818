package audit

import (
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// An acknowledged action must leave its audit row even when the database is down
// for a while (issue 14): a batch the database refuses is held here and retried
// with backoff; beyond MaxHeld events the held ones are spilled to a local file,
// replayed when the database answers again and at the next start. Each event
// carries an EventID, and Append skips IDs already stored, so a retry after a
// commit whose answer was lost, or a replay after a crash before the file was
// truncated, stores nothing twice. Only what none of these can keep is lost, and
// it is logged at ERROR with the whole event (events hold no secrets).

// heldEvents are events the database has not taken yet, oldest first.
type heldEvents struct {
	mu     sync.Mutex
	events []store.AuditEvent
	max    int
}

// hold keeps events for the next retry. When that would pass MaxHeld, every held
// event and these go to the spill file instead (one fsync); without a usable
// spill file these are lost, logged at ERROR, and the held ones stay.
func (w *Writer) hold(events []store.AuditEvent) {
	h := &w.held
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events)+len(events) <= h.max {
		h.events = append(h.events, events...)
		return
	}
	all := append(h.events[:len(h.events):len(h.events)], events...)
	if w.spill != nil {
		err := w.spill.append(all)
		if err == nil {
			h.events = nil
			return
		}
		w.log.Error("audit: spill file write failed", "path", w.spill.path, "error", err.Error())
	}
	w.lose(events, "the database refused them, the memory buffer is full and no spill file took them")
}

// backlog reports whether events are held or spilled.
func (w *Writer) backlog() bool {
	w.held.mu.Lock()
	n := len(w.held.events)
	w.held.mu.Unlock()
	return n > 0 || (w.spill != nil && w.spill.pending())
}

// retry writes the held events, then replays the spill file; on the first
// failure it puts back what is left and schedules the next try.
func (w *Writer) retry(r *retrier) {
	wasDown := r.down
	written := 0
	for {
		w.held.mu.Lock()
		n := min(len(w.held.events), w.batchSize)
		chunk := w.held.events[:n:n]
		w.held.events = w.held.events[n:]
		w.held.mu.Unlock()
		if n == 0 {
			break
		}
		if err := w.write(chunk); err != nil {
			w.held.mu.Lock()
			w.held.events = append(chunk, w.held.events...)
			w.held.mu.Unlock()
			w.retryFailed(r, wasDown, err)
			return
		}
		written += n
	}
	if w.spill != nil {
		n, err := w.spill.replay(w.write, w.batchSize, w.log)
		written += n
		if err != nil {
			w.retryFailed(r, wasDown, err)
			return
		}
	}
	r.succeeded()
	if wasDown || written > 0 {
		w.log.Info("audit: held events written", "events", written)
	}
}

func (w *Writer) retryFailed(r *retrier, wasDown bool, err error) {
	if !wasDown {
		w.log.Warn("audit: database write failed; retrying the held events with backoff", "error", err.Error())
	}
	r.failed()
}

// keepHeld, at Close, spills what is still held, or logs it as lost.
func (w *Writer) keepHeld() {
	w.held.mu.Lock()
	events := w.held.events
	w.held.events = nil
	w.held.mu.Unlock()
	if len(events) == 0 {
		return
	}
	w.keep(events)
}

// keep spills events or, failing that, logs them as lost.
func (w *Writer) keep(events []store.AuditEvent) {
	if w.spill != nil {
		err := w.spill.append(events)
		if err == nil {
			return
		}
		w.log.Error("audit: spill file write failed", "path", w.spill.path, "error", err.Error())
	}
	w.lose(events, "the database refused them and no spill file took them")
}

// writeAfterClose stores an event enqueued after Close directly, or keeps it.
func (w *Writer) writeAfterClose(e store.AuditEvent) {
	if err := w.write([]store.AuditEvent{e}); err != nil {
		w.log.Warn("audit: write after close failed", "action", e.Action, "error", err.Error())
		w.keep([]store.AuditEvent{e})
	}
}

// lose logs each event at ERROR, whole, so that it survives in the log whatever
// the configured level (GATEHOUSE_LOG_LEVEL=warn still shows it).
func (w *Writer) lose(events []store.AuditEvent, why string) {
	for _, e := range events {
		w.log.Error("audit: event not stored", "why", why,
			slog.Group("event", "event_id", e.EventID, "time", e.Time, "actor", e.Actor, "action", e.Action,
				"target", e.Target, "ip", e.IP, "request_id", e.RequestID, "details", string(e.Details)))
	}
}

// retrier is the retry schedule of the held events: exponential backoff from
// the flush interval up to max while the database fails. Used by run only.
type retrier struct {
	down     bool
	min, max time.Duration
	backoff  time.Duration
	timer    *time.Timer
}

func newRetrier(minimum, maximum time.Duration) *retrier {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &retrier{min: minimum, max: max(minimum, maximum), timer: t}
}

func (r *retrier) failed() {
	if !r.down {
		r.down, r.backoff = true, r.min
	} else {
		r.backoff = min(2*r.backoff, r.max)
	}
	r.timer.Reset(r.backoff)
}

func (r *retrier) succeeded() {
	r.down = false
	r.timer.Stop()
}
