package broker

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/templates"
)

// userError is a failure whose Message is safe to show a person. Err, the cause,
// goes to the log only.
type userError struct {
	Status  int
	Title   string
	Message string
	Next    string // what the person can do now
	// RetryAfter, in seconds, is sent as Retry-After (429, 503).
	RetryAfter int
	Err        error
}

func (e *userError) Error() string {
	if e.Err != nil {
		return e.Title + ": " + e.Err.Error()
	}
	return e.Title
}

func (e *userError) Unwrap() error { return e.Err }

var (
	errNotFound = &userError{Status: http.StatusNotFound, Title: "Page not found",
		Message: "There is nothing at this address.",
		Next:    "Check the link, or start again from the start page."}
	errMethodNotAllowed = &userError{Status: http.StatusMethodNotAllowed, Title: "Not allowed",
		Message: "This address does not accept that kind of request.",
		Next:    "Use the buttons and links on Gatehouse's pages rather than typing the address."}
	errForbiddenCrossSite = &userError{Status: http.StatusForbidden, Title: "Request refused",
		Message: "This form was sent from another site, or the page it came from has expired.",
		Next:    "Go back, reload the page and try again."}
	errInternal = &userError{Status: http.StatusInternalServerError, Title: "Something went wrong",
		Message: "Gatehouse could not complete this request.",
		Next:    "Try again. If it keeps happening, give your administrator the request ID below."}
	errUnavailable = &userError{Status: http.StatusServiceUnavailable, Title: "Temporarily unavailable",
		Message: "Gatehouse cannot reach its database right now.",
		Next:    "Wait a minute and try again.", RetryAfter: 30}
	errTooLarge = &userError{Status: http.StatusRequestEntityTooLarge, Title: "Request too large",
		Message: "The request was larger than Gatehouse accepts.",
		Next:    "Go back and try again with less data."}
)

// handlerFunc is how every broker handler is written: it returns an error instead of
// writing one, and adapt renders, logs and counts it in one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.renderError(w, r, err)
		}
	})
}

// renderError shows a person what went wrong. Internal detail goes to the log with
// the request ID, never to the page.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	ue := s.classify(r.Context(), err)
	ri := infoFrom(r.Context())
	attrs := []any{"request_id", ri.ID, "status", ue.Status, "path", r.URL.Path, "error", err.Error()}
	if ue.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", attrs...)
	} else {
		s.log.WarnContext(r.Context(), "request refused", attrs...)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if ue.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(ue.RetryAfter))
	}
	w.WriteHeader(ue.Status)
	templates.Error(templates.ErrorView{
		Page:      templates.Page{Title: ue.Title},
		Status:    ue.Status,
		Message:   ue.Message,
		Next:      ue.Next,
		RequestID: ri.ID,
	}).Render(r.Context(), w)
}

// classify maps any error to what a person may see. An unexpected failure while the
// database is unreachable is reported as 503, which tells people and load balancers
// to come back later rather than that Gatehouse is broken.
func (s *Server) classify(ctx context.Context, err error) *userError {
	var ue *userError
	switch {
	case errors.As(err, &ue):
	case isBodyTooLarge(err):
		ue = errTooLarge
	default:
		ue = errInternal
	}
	if ue.Status == http.StatusInternalServerError && !s.databaseReachable(ctx) {
		ue = errUnavailable
	}
	return ue
}

func (s *Server) databaseReachable(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	return s.store.Ping(ctx) == nil
}
