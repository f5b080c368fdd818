package web

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the Prometheus series the HTTP layer maintains.
type Metrics struct {
	// Registry holds every series, the capabilities' own included.
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	panics   prometheus.Counter
}

// NewMetrics registers the HTTP series in reg (nil: a new registry with the Go
// runtime and process collectors).
func NewMetrics(reg *prometheus.Registry) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		Registry: reg,
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

// Instrument counts and times h under the label route (the route pattern, so the
// number of series is bounded by the route table, not by URLs). It records the
// series promhttp's InstrumentHandlerCounter and InstrumentHandlerDuration would,
// with the same label values, but looks each route's series up once rather than
// building and hashing a label map on every request, and reads the status from the
// access log's statusRecorder rather than wrapping the ResponseWriter again.
func (m *Metrics) Instrument(route string, h http.Handler) http.Handler {
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

// Handler serves the registry to Prometheus.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
