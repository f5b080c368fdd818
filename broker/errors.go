package broker

import (
	"net/http"

	"github.com/gatehouse/gatehouse/broker/web"
)

// The error types, their adapters and the OAuth error constructors live in
// broker/web; these are the names the broker's handlers were written with.

type (
	userError   = web.UserError
	oauthError  = web.OAuthError
	handlerFunc = web.HandlerFunc
)

var (
	errNotFound         = web.ErrNotFound
	errMethodNotAllowed = web.ErrMethodNotAllowed
)

func (s *Server) adapt(h handlerFunc) http.Handler { return s.web.Adapt(h) }

func (s *Server) adaptOAuth(h handlerFunc) http.Handler { return s.web.AdaptOAuth(h) }

func (s *Server) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	s.web.WriteOAuthError(w, r, err)
}

func (s *Server) auditRejection(r *http.Request, endpoint string, oe *oauthError) {
	s.web.AuditRejection(r, endpoint, oe)
}

func oauthErr(status int, code, description string, cause error) *oauthError {
	return web.OAuthErr(status, code, description, cause)
}

func invalidRequest(desc string) *oauthError            { return web.InvalidRequest(desc) }
func invalidClient(cause error) *oauthError             { return web.InvalidClient(cause) }
func invalidGrant(desc string, cause error) *oauthError { return web.InvalidGrant(desc, cause) }
func unauthorizedClient(desc string) *oauthError        { return web.UnauthorizedClient(desc) }
func invalidScope(desc string) *oauthError              { return web.InvalidScope(desc) }
func invalidTarget(desc string) *oauthError             { return web.InvalidTarget(desc) }
func tooManyRequests(retryAfter int) *oauthError        { return web.TooManyRequests(retryAfter) }

func rejected(oe *oauthError, reason, client, target string, details map[string]any) *oauthError {
	return web.Rejected(oe, reason, client, target, details)
}

func writeNoStoreJSON(w http.ResponseWriter, status int, body []byte) {
	web.WriteNoStoreJSON(w, status, body)
}

func isBodyTooLarge(err error) bool { return web.IsBodyTooLarge(err) }
