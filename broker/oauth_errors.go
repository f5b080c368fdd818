package broker

import (
	"errors"
	"net/http"
	"strconv"
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
	// for its oauth.rejected audit row (oauth_reject.go).
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
