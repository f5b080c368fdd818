package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/broker/audit"
)

// AuditEvent is an audit event of the request r, from its IP address and with its
// request ID; an empty actor is "anonymous".
func (c *Core) AuditEvent(r *http.Request, actor, action, target string, details map[string]any) audit.Event {
	if actor == "" {
		actor = "anonymous"
	}
	ri := InfoFrom(r.Context())
	return audit.Event{Actor: actor, Action: action, Target: target, IP: ri.IP, RequestID: ri.ID, Details: details}
}

// Record writes a security event synchronously; a failure to write is logged,
// not shown (the refusal itself stands), and the event is held to be written
// when the database is back (audit.Writer.RecordOrHold).
func (c *Core) Record(r *http.Request, actor, action, target string, details map[string]any) {
	if err := c.Audit.RecordOrHold(r.Context(), c.AuditEvent(r, actor, action, target, details)); err != nil {
		c.Log.ErrorContext(r.Context(), "audit record failed; held to retry", "request_id", RequestID(r.Context()), "action", action,
			"error", strings.TrimSpace(err.Error()))
	}
}

// AuditSecurity records a refused attack synchronously (SECURITY.md: one audit line
// per security-relevant rejection).
func (c *Core) AuditSecurity(r *http.Request, clientID, action, target string, details map[string]any) error {
	ri := InfoFrom(r.Context())
	return c.Audit.Record(r.Context(), audit.Event{
		Actor: "client:" + clientID, Action: action, Target: target, IP: ri.IP, RequestID: ri.ID, Details: details,
	})
}

// Every security-relevant refusal sent back to an OAuth client — at the token,
// introspection and revocation endpoints, and at the authorization endpoint — is
// one synchronous audit row, action oauth.rejected (SECURITY.md §0 "Expect",
// A5:16.3.3): who (the client, authenticated or claimed), what (target), why
// (the OAuth error and a reason code), from where (IP) and the request ID. A
// refusal for rate limiting (429) writes no row, or a flood would become one of
// database writes: it is counted in gatehouse_oauth_rate_limited_total instead.

// auditedOAuthErrors are the error codes that are refusals of a possible attack
// (client authentication, grant and PKCE checks, privilege escalation), as
// opposed to malformed requests and protocol-level answers.
var auditedOAuthErrors = map[string]bool{
	"invalid_client":      true,
	"invalid_grant":       true,
	"unauthorized_client": true,
	"invalid_scope":       true,
	"invalid_target":      true,
}

// RejectionMetrics count what the audit log does not get, and what it does.
type RejectionMetrics struct {
	rateLimited *prometheus.CounterVec
	rejected    *prometheus.CounterVec
}

// NewRejectionMetrics registers the refusal counters in reg.
func NewRejectionMetrics(reg *prometheus.Registry) (*RejectionMetrics, error) {
	m := &RejectionMetrics{
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_oauth_rate_limited_total",
			Help: "OAuth requests refused with 429 by the rate limits (not written to the audit log).",
		}, []string{"endpoint"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_oauth_rejected_total",
			Help: "Security-relevant OAuth refusals, each also an oauth.rejected audit row, by error code.",
		}, []string{"error"}),
	}
	for _, c := range []prometheus.Collector{m.rateLimited, m.rejected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// AuditRejection records oe if it is a security-relevant refusal, or counts it
// if it is a 429. endpoint is a route's fixed path, so the metric's series are
// bounded by the route table.
func (c *Core) AuditRejection(r *http.Request, endpoint string, oe *OAuthError) {
	if oe.Status == http.StatusTooManyRequests {
		c.Rejections.rateLimited.WithLabelValues(endpoint).Inc()
		return
	}
	if !auditedOAuthErrors[oe.Code] && oe.Reason == "" {
		return
	}
	c.Rejections.rejected.WithLabelValues(oe.Code).Inc()
	client := oe.Client
	if client == "" {
		client = claimedClient(r)
	}
	target := oe.Target
	if target == "" {
		target = endpoint
	}
	details := map[string]any{"error": oe.Code, "reason": oe.Code}
	if oe.Reason != "" {
		details["reason"] = oe.Reason
	}
	for k, v := range oe.Details {
		details[k] = v
	}
	// The refusal stands either way: a record the database cannot take now is
	// held and written when it is back.
	if err := c.Audit.RecordOrHold(r.Context(), c.AuditEvent(r, "client:"+Truncate(client, 128), "oauth.rejected", target, details)); err != nil {
		c.Log.ErrorContext(r.Context(), "audit record failed; held to retry", "request_id", RequestID(r.Context()), "action", "oauth.rejected",
			"error", strings.TrimSpace(err.Error()))
	}
}

// claimedClient is the client a request names when it was refused before the
// client was known: the Basic user name, else "unknown".
func claimedClient(r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		if u, err := url.QueryUnescape(id); err == nil && u != "" {
			return u
		}
	}
	return "unknown"
}
