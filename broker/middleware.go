package broker

import (
	"context"
	"net/http"

	"github.com/a-h/templ"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/web"
)

// Request info, the middleware chain, rendering and the audit helpers live in
// broker/web; these are the names the broker's handlers were written with.

const defaultBodyLimit = web.DefaultBodyLimit

func infoFrom(ctx context.Context) web.RequestInfo { return web.InfoFrom(ctx) }

// RequestID returns the ID of the request ctx belongs to ("" outside a request).
func RequestID(ctx context.Context) string { return web.RequestID(ctx) }

func (s *Server) limitBody(limit int64, next http.Handler) http.Handler {
	return s.web.LimitBody(limit, next)
}

func setFormAction(w http.ResponseWriter, origins ...string) { web.SetFormAction(w, origins...) }

func origin(raw string) string { return web.Origin(raw) }

// allowUpstreamForms widens form-action to every enabled provider's origins.
func (s *Server) allowUpstreamForms(w http.ResponseWriter, r *http.Request) {
	setFormAction(w, s.upstreams.FormOrigins(r.Context())...)
}

func render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) error {
	return web.Render(w, r, status, c)
}

func truncate(s string, n int) string { return web.Truncate(s, n) }

func (s *Server) auditEvent(r *http.Request, actor, action, target string, details map[string]any) audit.Event {
	return s.web.AuditEvent(r, actor, action, target, details)
}

func (s *Server) record(r *http.Request, actor, action, target string, details map[string]any) {
	s.web.Record(r, actor, action, target, details)
}
