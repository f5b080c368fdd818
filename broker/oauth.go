package broker

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// oauthError is an error response of the OAuth endpoints (RFC 6749 §5.2, RFC 7009
// §2.2.1, RFC 8707 §2). Description is fixed text written here, never input or
// internal error text (AS-META-03); Err, the cause, goes to the log only.
type oauthError struct {
	Status      int
	Code        string
	Description string
	RetryAfter  int // seconds, with 429
	Err         error
	// Reason (a short code), Client, Target and Details describe a refusal
	// for its oauth.rejected audit row (auditRejection).
	Reason  string
	Client  string
	Target  string
	Details map[string]any
}

func (e *oauthError) Error() string {
	msg := e.Code + ": " + e.Description
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *oauthError) Unwrap() error { return e.Err }

func oauthErr(status int, code, description string, cause error) *oauthError {
	return &oauthError{Status: status, Code: code, Description: description, Err: cause}
}

func invalidRequest(desc string) *oauthError {
	return oauthErr(http.StatusBadRequest, "invalid_request", desc, nil)
}

// invalidClient is 401: RFC 6749 §5.2 requires it with WWW-Authenticate when the
// client tried the Authorization header, and Gatehouse answers the same way to
// every failed client authentication so the methods cannot be told apart.
func invalidClient(cause error) *oauthError {
	return oauthErr(http.StatusUnauthorized, "invalid_client", "client authentication failed", cause)
}

func invalidGrant(desc string, cause error) *oauthError {
	return oauthErr(http.StatusBadRequest, "invalid_grant", desc, cause)
}

func unauthorizedClient(desc string) *oauthError {
	return oauthErr(http.StatusBadRequest, "unauthorized_client", desc, nil)
}

func invalidScope(desc string) *oauthError {
	return oauthErr(http.StatusBadRequest, "invalid_scope", desc, nil)
}

func invalidTarget(desc string) *oauthError {
	return oauthErr(http.StatusBadRequest, "invalid_target", desc, nil)
}

// adaptOAuth is adapt for the OAuth endpoints: errors become JSON error responses
// (RFC 6749 §5.2) with Cache-Control: no-store, never an HTML page. Unexpected
// errors are server_error with no detail.
func (s *Server) adaptOAuth(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeOAuthError(w, r, err)
		}
	})
}

func (s *Server) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	var oe *oauthError
	switch {
	case errors.As(err, &oe):
	case isBodyTooLarge(err):
		oe = oauthErr(http.StatusRequestEntityTooLarge, "invalid_request", "request body too large", err)
	default:
		oe = oauthErr(http.StatusInternalServerError, "server_error", "the server could not complete the request", err)
		if !s.databaseReachable(r.Context()) {
			oe.Status, oe.Code, oe.RetryAfter = http.StatusServiceUnavailable, "temporarily_unavailable", 30
		}
	}
	s.auditRejection(r, r.URL.Path, oe)
	attrs := []any{"request_id", RequestID(r.Context()), "status", oe.Status, "path", r.URL.Path, "error", err.Error()}
	if oe.Status >= 500 {
		s.log.ErrorContext(r.Context(), "oauth request failed", attrs...)
	} else {
		s.log.WarnContext(r.Context(), "oauth request refused", attrs...)
	}
	h := w.Header()
	if oe.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
	if oe.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(oe.RetryAfter))
	}
	body := `{"error":"` + oe.Code + `","error_description":"` + oe.Description + `"}`
	writeNoStoreJSON(w, oe.Status, []byte(body))
}

// writeNoStoreJSON writes a token-endpoint-style JSON response: never cached (RFC
// 6749 §5.1, OIDC Core §3.1.3.3; AS-META-02).
func writeNoStoreJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	w.Write(body)
}

// oauthBodyLimit caps the body of the token, introspection and revocation
// endpoints (DOS-02): far more than any legitimate request (the largest field, a
// client assertion or a token, is capped at 8 KiB).
const oauthBodyLimit = 64 << 10

// maxParamLen bounds each parameter (DOS-11); parameters not listed get
// defaultParamLen. Values that pass are still checked by their grant.
var maxParamLen = map[string]int{
	"scope":            1024,
	"client_assertion": 8 << 10,
	"token":            8 << 10,
	"code":             256,
	"refresh_token":    256,
	"code_verifier":    128,
	"client_id":        128,
	"client_secret":    256,
}

const formType = "application/x-www-form-urlencoded"

const (
	defaultParamLen = 2048
	maxParams       = 32
	// maxResources: RFC 8707 allows the resource parameter more than once; a
	// handful is plenty, thousands is an attack (DOS-11).
	maxResources = 8
)

// form is the parsed body of an OAuth request.
type form struct{ v url.Values }

// get returns the parameter's value; a parameter sent without a value counts as
// omitted (RFC 6749 §3.1).
func (f form) get(name string) string {
	if vs := f.v[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// all returns every non-empty value of a repeatable parameter (resource).
func (f form) all(name string) []string {
	var out []string
	for _, v := range f.v[name] {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// readForm parses an application/x-www-form-urlencoded body, refusing what RFC
// 6749 §3.2 and §3.1 forbid and what no client needs: repeated parameters ("MUST
// NOT be included more than once"), oversized values, and too many parameters.
// Query parameters are ignored: credentials and grants travel in the body only.
func readForm(r *http.Request) (form, error) {
	if ct := r.Header.Get("Content-Type"); ct != formType { // the exact value is the common case
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != formType {
			return form{}, invalidRequest("the body must be application/x-www-form-urlencoded")
		}
	}
	var b []byte
	var err error
	if n := r.ContentLength; n >= 0 && n <= oauthBodyLimit {
		// A declared length is read in one allocation; ReadAll would start at 512
		// bytes for bodies that are mostly under 100.
		b = make([]byte, n)
		_, err = io.ReadFull(r.Body, b)
	} else {
		b, err = io.ReadAll(r.Body)
	}
	if err != nil {
		return form{}, err // a *http.MaxBytesError becomes 413
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return form{}, invalidRequest("the body is not valid form encoding")
	}
	if len(v) > maxParams {
		return form{}, invalidRequest("too many parameters")
	}
	for name, vs := range v {
		if name == "resource" {
			if len(vs) > maxResources {
				return form{}, invalidTarget("too many resource parameters")
			}
		} else if len(vs) > 1 {
			return form{}, invalidRequest("a parameter is repeated")
		}
		limit, ok := maxParamLen[name]
		if !ok {
			limit = defaultParamLen
		}
		for _, x := range vs {
			if len(x) > limit {
				return form{}, invalidRequest("a parameter is too long")
			}
		}
	}
	return form{v}, nil
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

// rejectionMetrics count what the audit log does not get, and what it does.
type rejectionMetrics struct {
	rateLimited *prometheus.CounterVec
	rejected    *prometheus.CounterVec
}

func newRejectionMetrics(reg *prometheus.Registry) (*rejectionMetrics, error) {
	m := &rejectionMetrics{
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

// auditRejection records oe if it is a security-relevant refusal, or counts it
// if it is a 429. endpoint is a route's fixed path, so the metric's series are
// bounded by the route table.
func (s *Server) auditRejection(r *http.Request, endpoint string, oe *oauthError) {
	if oe.Status == http.StatusTooManyRequests {
		s.rejections.rateLimited.WithLabelValues(endpoint).Inc()
		return
	}
	if !auditedOAuthErrors[oe.Code] && oe.Reason == "" {
		return
	}
	s.rejections.rejected.WithLabelValues(oe.Code).Inc()
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
	if err := s.auditSecurity(r, truncate(client, 128), "oauth.rejected", target, details); err != nil {
		s.log.ErrorContext(r.Context(), "audit record failed", "request_id", RequestID(r.Context()), "action", "oauth.rejected",
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

// rejected marks oe as a refusal to audit, with a reason code, the client and
// the target (a user ID, or "" for the endpoint), and returns it.
func rejected(oe *oauthError, reason, client, target string, details map[string]any) *oauthError {
	oe.Reason, oe.Client, oe.Target, oe.Details = reason, client, target, details
	return oe
}

// tooManyRequests is the 429 answer (RFC 6585 §4).
func tooManyRequests(retryAfter int) *oauthError {
	e := oauthErr(429, "slow_down", "too many requests; retry later", nil)
	e.RetryAfter = retryAfter
	return e
}
