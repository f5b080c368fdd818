package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/templates"
)

// UserError is a failure whose Message is safe to show a person. Err, the cause,
// goes to the log only.
type UserError struct {
	Status  int
	Title   string
	Message string
	// MessageArgs fill Message's %s; the page translates Message as a whole
	// (templates/locales), so a name goes here, never into Message.
	MessageArgs []any
	Next        string // what the person can do now
	// RetryAfter, in seconds, is sent as Retry-After (429, 503).
	RetryAfter int
	// UILocales, set by WithUILocalesError, is the ui_locales of the
	// authorization request refused: the page is in that language.
	UILocales string
	Err       error
}

// WithUILocalesError returns err, when it is a UserError, as a copy whose page
// is in the languages uiLocales names (OIDC Core §3.1.2.1): an authorization
// request refused before anything was sealed still has the application's
// language. The shared UserError values are never changed.
func WithUILocalesError(err error, uiLocales string) error {
	ue, ok := err.(*UserError)
	if !ok || uiLocales == "" {
		return err
	}
	c := *ue
	c.UILocales = uiLocales
	return &c
}

func (e *UserError) Error() string {
	if e.Err != nil {
		return e.Title + ": " + e.Err.Error()
	}
	return e.Title
}

func (e *UserError) Unwrap() error { return e.Err }

var (
	ErrNotFound = &UserError{Status: http.StatusNotFound, Title: "Page not found",
		Message: "There is nothing at this address.",
		Next:    "Check the link, or start again from the start page."}
	ErrMethodNotAllowed = &UserError{Status: http.StatusMethodNotAllowed, Title: "Not allowed",
		Message: "This address does not accept that kind of request.",
		Next:    "Use the buttons and links on Gatehouse's pages rather than typing the address."}
	ErrForbiddenCrossSite = &UserError{Status: http.StatusForbidden, Title: "Request refused",
		Message: "This form was sent from another site, or the page it came from has expired.",
		Next:    "Go back, reload the page and try again."}
	ErrInternal = &UserError{Status: http.StatusInternalServerError, Title: "Something went wrong",
		Message: "Gatehouse could not complete this request.",
		Next:    "Try again. If it keeps happening, give your administrator the request ID below."}
	ErrUnavailable = &UserError{Status: http.StatusServiceUnavailable, Title: "Temporarily unavailable",
		Message: "Gatehouse cannot reach its database right now.",
		Next:    "Wait a minute and try again.", RetryAfter: 30}
	ErrTooLarge = &UserError{Status: http.StatusRequestEntityTooLarge, Title: "Request too large",
		Message: "The request was larger than Gatehouse accepts.",
		Next:    "Go back and try again with less data."}
)

// HandlerFunc is how every handler is written: it returns an error instead of
// writing one, and Adapt (pages) or AdaptOAuth (OAuth endpoints) renders, logs
// and counts it in one place.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Adapt turns h into an http.Handler whose errors become error pages.
func (c *Core) Adapt(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			c.RenderError(w, r, err)
		}
	})
}

// RenderError shows a person what went wrong. Internal detail goes to the log with
// the request ID, never to the page.
func (c *Core) RenderError(w http.ResponseWriter, r *http.Request, err error) {
	if c.ClientGone(w, r, err) {
		return
	}
	ue := c.classify(r.Context(), err)
	ri := InfoFrom(r.Context())
	attrs := []any{"request_id", ri.ID, "status", ue.Status, "path", r.URL.Path, "error", err.Error()}
	if ue.Status >= 500 {
		c.Log.ErrorContext(r.Context(), "request failed", attrs...)
	} else {
		c.Log.WarnContext(r.Context(), "request refused", attrs...)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if ue.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(ue.RetryAfter))
	}
	w.WriteHeader(ue.Status)
	if ue.UILocales != "" {
		r = r.WithContext(WithUILocales(r.Context(), ue.UILocales))
	}
	templates.Error(templates.ErrorView{
		Page:        templates.Page{Title: ue.Title},
		Status:      ue.Status,
		Message:     ue.Message,
		MessageArgs: ue.MessageArgs,
		Next:        ue.Next,
		RequestID:   ri.ID,
	}).Render(context.WithoutCancel(pageContext(r)), w) // templ stops at a done context: a request past its deadline would get an empty page
}

// StatusClientClosedRequest is what the access log records for a request whose
// client went away before the answer (nginx's 499; no response reaches anyone).
const StatusClientClosedRequest = 499

// ClientGone reports, and records, a request that failed only because its
// client disconnected: the request's context was canceled (net/http does so
// when the connection closes) and err is that cancellation. That is not a
// server failure: no 500, no error log, no audited refusal (pages, OAuth
// endpoints and the admin API alike) — a load test that stops mid-request
// would otherwise look like an outage. A request that
// ran out of its own deadline (GATEHOUSE_REQUEST_TIMEOUT) is not this case.
func (c *Core) ClientGone(w http.ResponseWriter, r *http.Request, err error) bool {
	if !errors.Is(err, context.Canceled) || !errors.Is(r.Context().Err(), context.Canceled) {
		return false
	}
	c.Log.InfoContext(r.Context(), "client went away", "request_id", RequestID(r.Context()), "path", r.URL.Path)
	w.WriteHeader(StatusClientClosedRequest)
	return true
}

// classify maps any error to what a person may see. An unexpected failure while the
// database is unreachable is reported as 503, which tells people and load balancers
// to come back later rather than that Gatehouse is broken.
func (c *Core) classify(ctx context.Context, err error) *UserError {
	var ue *UserError
	switch {
	case errors.As(err, &ue):
	case IsBodyTooLarge(err):
		ue = ErrTooLarge
	default:
		ue = ErrInternal
	}
	if ue.Status == http.StatusInternalServerError && c.Unavailable(ctx, err) {
		ue = ErrUnavailable
	}
	return ue
}

// Unavailable reports whether an unexpected err means the database could not
// serve the request: it ran out of the request's deadline (GATEHOUSE_REQUEST_TIMEOUT)
// waiting on it, its connection failed under it (store.ErrUnavailable), or the
// database does not answer a ping now. The first two need no ping: a database
// that thaws or restarts meanwhile answers it, and the request that failed for
// want of the database would be a 500 (found by tools/chaos).
func (c *Core) Unavailable(ctx context.Context, err error) bool {
	if errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		errors.Is(err, store.ErrUnavailable) {
		return true
	}
	return !c.DatabaseReachable(ctx)
}

// DatabaseReachable pings the store, even after the request was cancelled.
func (c *Core) DatabaseReachable(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	return c.Store.Ping(ctx) == nil
}

// OAuthError is an error response of the OAuth endpoints (RFC 6749 §5.2, RFC 7009
// §2.2.1, RFC 8707 §2). Description is fixed text written here, never input or
// internal error text (AS-META-03); Err, the cause, goes to the log only.
type OAuthError struct {
	Status      int
	Code        string
	Description string
	RetryAfter  int // seconds, with 429
	Err         error
	// Reason (a short code), Client, Target and Details describe a refusal
	// for its oauth.rejected audit row (AuditRejection).
	Reason  string
	Client  string
	Target  string
	Details map[string]any
}

func (e *OAuthError) Error() string {
	msg := e.Code + ": " + e.Description
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *OAuthError) Unwrap() error { return e.Err }

// OAuthErr builds an OAuthError; description must be fixed text.
func OAuthErr(status int, code, description string, cause error) *OAuthError {
	return &OAuthError{Status: status, Code: code, Description: description, Err: cause}
}

// InvalidRequest is RFC 6749 §5.2 invalid_request.
func InvalidRequest(desc string) *OAuthError {
	return OAuthErr(http.StatusBadRequest, "invalid_request", desc, nil)
}

// InvalidClient is 401: RFC 6749 §5.2 requires it with WWW-Authenticate when the
// client tried the Authorization header, and Gatehouse answers the same way to
// every failed client authentication so the methods cannot be told apart.
func InvalidClient(cause error) *OAuthError {
	return OAuthErr(http.StatusUnauthorized, "invalid_client", "client authentication failed", cause)
}

// InvalidGrant is RFC 6749 §5.2 invalid_grant.
func InvalidGrant(desc string, cause error) *OAuthError {
	return OAuthErr(http.StatusBadRequest, "invalid_grant", desc, cause)
}

// UnauthorizedClient is RFC 6749 §5.2 unauthorized_client.
func UnauthorizedClient(desc string) *OAuthError {
	return OAuthErr(http.StatusBadRequest, "unauthorized_client", desc, nil)
}

// InvalidScope is RFC 6749 §5.2 invalid_scope.
func InvalidScope(desc string) *OAuthError {
	return OAuthErr(http.StatusBadRequest, "invalid_scope", desc, nil)
}

// InvalidTarget is RFC 8707 §2 invalid_target.
func InvalidTarget(desc string) *OAuthError {
	return OAuthErr(http.StatusBadRequest, "invalid_target", desc, nil)
}

// TemporarilyUnavailable is 503 temporarily_unavailable with Retry-After: the
// database or an upstream provider cannot be reached; retrying later may help.
func TemporarilyUnavailable(cause error) *OAuthError {
	e := OAuthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "the server could not complete the request; retry later", cause)
	e.RetryAfter = 30
	return e
}

// TooManyRequests is the 429 answer (RFC 6585 §4).
func TooManyRequests(retryAfter int) *OAuthError {
	e := OAuthErr(429, "slow_down", "too many requests; retry later", nil)
	e.RetryAfter = retryAfter
	return e
}

// Rejected marks oe as a refusal to audit, with a reason code, the client and
// the target (a user ID, or "" for the endpoint), and returns it.
func Rejected(oe *OAuthError, reason, client, target string, details map[string]any) *OAuthError {
	oe.Reason, oe.Client, oe.Target, oe.Details = reason, client, target, details
	return oe
}

// AdaptOAuth is Adapt for the OAuth endpoints: errors become JSON error responses
// (RFC 6749 §5.2) with Cache-Control: no-store, never an HTML page. Unexpected
// errors are server_error with no detail.
func (c *Core) AdaptOAuth(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			c.WriteOAuthError(w, r, err)
		}
	})
}

// WriteOAuthError answers err as RFC 6749 §5.2 JSON, audits or counts it
// (AuditRejection) and logs it with the request ID.
func (c *Core) WriteOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	if c.ClientGone(w, r, err) {
		return
	}
	var oe *OAuthError
	switch {
	case errors.As(err, &oe):
	case IsBodyTooLarge(err):
		oe = OAuthErr(http.StatusRequestEntityTooLarge, "invalid_request", "request body too large", err)
	default:
		oe = OAuthErr(http.StatusInternalServerError, "server_error", "the server could not complete the request", err)
		if c.Unavailable(r.Context(), err) {
			oe = TemporarilyUnavailable(err)
		}
	}
	c.AuditRejection(r, r.URL.Path, oe)
	attrs := []any{"request_id", RequestID(r.Context()), "status", oe.Status, "path", r.URL.Path, "error", err.Error()}
	if oe.Status >= 500 {
		c.Log.ErrorContext(r.Context(), "oauth request failed", attrs...)
	} else {
		c.Log.WarnContext(r.Context(), "oauth request refused", attrs...)
	}
	h := w.Header()
	if oe.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
	if oe.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(oe.RetryAfter))
	}
	body := `{"error":"` + oe.Code + `","error_description":"` + oe.Description + `"}`
	WriteNoStoreJSON(w, oe.Status, []byte(body))
}

// WriteNoStoreJSON writes a token-endpoint-style JSON response: never cached (RFC
// 6749 §5.1, OIDC Core §3.1.3.3; AS-META-02).
func WriteNoStoreJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	w.Write(body)
}
