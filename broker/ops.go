package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handleHealthz says the process is up; it checks nothing else, so an orchestrator
// does not restart a healthy process because its database blipped.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// handleReadyz says whether this replica can serve: its database answers.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, code := "ok", http.StatusOK
	db := "ok"
	if err := s.store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: database unreachable", "request_id", RequestID(ctx), "error", err.Error())
		status, code, db = "unavailable", http.StatusServiceUnavailable, "unreachable"
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": map[string]string{"database": db}})
}

// writeJSON writes v as the whole response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// metrics are the Prometheus series the HTTP layer maintains.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	panics   prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_http_panics_total",
			Help: "Handler panics recovered.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.panics} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// instrument counts and times h under the label route (the route pattern, so the
// number of series is bounded by the route table, not by URLs). It records the
// series promhttp's InstrumentHandlerCounter and InstrumentHandlerDuration would,
// with the same label values, but looks each route's series up once rather than
// building and hashing a label map on every request, and reads the status from the
// access log's statusRecorder rather than wrapping the ResponseWriter again.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	duration := m.duration.WithLabelValues(route)
	requests := m.requests.MustCurryWith(prometheus.Labels{"route": route})
	var counters sync.Map // requestKey -> prometheus.Counter
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec, ok := w.(*statusRecorder)
		if !ok {
			rec = &statusRecorder{ResponseWriter: w}
		}
		h.ServeHTTP(rec, r)
		duration.Observe(time.Since(start).Seconds())
		key := requestKey{method: methodLabel(r.Method), code: rec.status}
		c, ok := counters.Load(key)
		if !ok {
			c, _ = counters.LoadOrStore(key, requests.WithLabelValues(key.method, codeLabel(key.code)))
		}
		c.(prometheus.Counter).Inc()
	})
}

type requestKey struct {
	method string
	code   int
}

// methodLabel is promhttp's method label (its sanitizeMethod): the standard methods
// in lower case, any other "unknown", so clients cannot mint series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, "get":
		return "get"
	case http.MethodPost, "post":
		return "post"
	case http.MethodHead, "head":
		return "head"
	case http.MethodPut, "put":
		return "put"
	case http.MethodDelete, "delete":
		return "delete"
	case http.MethodPatch, "patch":
		return "patch"
	case http.MethodOptions, "options":
		return "options"
	case http.MethodConnect, "connect":
		return "connect"
	case http.MethodTrace, "trace":
		return "trace"
	case "NOTIFY", "notify":
		return "notify"
	}
	return "unknown"
}

// codeLabel is promhttp's code label (its sanitizeCode): a handler that wrote
// nothing answered 200.
func codeLabel(status int) string {
	if status == 0 {
		status = http.StatusOK
	}
	return strconv.Itoa(status)
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Maintain runs housekeeping every interval until ctx ends: signing-key promotion
// and retirement, and sweeping expired sessions, codes, refresh tokens and replay
// entries so stored state stays bounded (DOS-12). Every replica may run it; each
// step is idempotent.
func (s *Server) Maintain(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.maintainOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) maintainOnce(ctx context.Context) {
	now := s.Now()
	if err := s.keys.Maintain(ctx); err != nil && ctx.Err() == nil {
		s.log.ErrorContext(ctx, "maintenance: signing keys", "error", err.Error())
	}
	// SAML metadata configured by URL is refetched on its schedule; a failed
	// fetch keeps the last good copy (SAML-48/49).
	s.upstreams.RefreshMetadata(ctx)
	sweeps := []struct {
		what string
		run  func() (int64, error)
	}{
		{"sessions", func() (int64, error) { return s.sweepSessions(ctx, now) }},
		{"authorization codes", func() (int64, error) { return s.store.Codes().DeleteExpired(ctx, now) }},
		{"refresh tokens", func() (int64, error) { return s.store.RefreshTokens().DeleteExpired(ctx, now) }},
		{"replay cache", func() (int64, error) { return s.store.Replay().DeleteExpired(ctx, now) }},
		{"token revocations", func() (int64, error) { return s.store.Revocations().DeleteExpired(ctx, now) }},
	}
	for _, sw := range sweeps {
		n, err := sw.run()
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "maintenance: sweep failed", "what", sw.what, "error", err.Error())
			}
			continue
		}
		if n > 0 {
			s.log.DebugContext(ctx, "maintenance: swept", "what", sw.what, "rows", n)
		}
	}
}

// sweepBatch bounds the sessions one sweep query lists.
const sweepBatch = 500

// sweepSessions ends the sessions past their idle or absolute limit as a logout
// does (endSession): what was issued under each is revoked first, and only then
// is its row deleted, so a crash or a failed revocation leaves the row for the
// next sweep instead of refresh tokens nobody will revoke. An expired row is
// never used meanwhile: currentSession checks the limits itself.
func (s *Server) sweepSessions(ctx context.Context, now time.Time) (int64, error) {
	var ended int64
	for {
		ids, err := s.store.Sessions().ListExpired(ctx, now, now.Add(-s.cfg.SessionIdleTimeout), sweepBatch)
		if err != nil {
			return ended, err
		}
		for _, id := range ids {
			if err := s.RevokeTokens(ctx, store.RefreshFilter{SessionID: id}); err != nil {
				// The row stays: the next sweep tries again.
				return ended, fmt.Errorf("revoke the tokens of expired session %s: %w", id, err)
			}
			if err := s.store.Sessions().Delete(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
				return ended, err
			}
			ended++
		}
		if len(ids) < sweepBatch {
			return ended, nil
		}
	}
}
