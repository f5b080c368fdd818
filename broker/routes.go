package broker

import (
	"net/http"

	"github.com/gatehouse/gatehouse/static"
)

// routes is the whole route table, readable top to bottom. Each route says what kind
// of caller it serves, which decides its protections:
//   - page: a person's browser reading (GET).
//   - form: a person's browser changing state (POST): cross-origin refusal and a
//     CSRF token are checked before the handler runs.
//   - upstream: an identity provider's message carried by the browser, often a
//     cross-site POST (SAML): no CSRF token, because the message itself is
//     checked against the flow this browser started; its own body limit.
//   - endpoint: machines (health, metrics, discovery, OAuth endpoints): no cookies,
//     no CSRF; their own authentication where they need it.
func (s *Server) routes() {
	s.page("GET /{$}", s.handleHome)
	s.endpoint("GET /static/", static.Handler(s.adapt(func(http.ResponseWriter, *http.Request) error { return errNotFound })))

	// Federated sign-in (issue 3).
	s.page("GET /login", s.handleLogin)
	s.form("POST /login", s.handleLoginSubmit)
	s.page("GET /login/{provider}", s.handleLoginStart)
	s.page("GET /callback/{provider}", s.handleCallback)
	s.page("GET /callback/{provider}/logout", s.handleLogoutReturn)
	s.upstream("POST /saml/{provider}/acs", acsBodyLimit, s.handleACS)
	s.page("GET /saml/{provider}/continue", s.handleContinuePage)
	s.form("POST /saml/{provider}/continue", s.handleContinue)
	s.page("GET "+linkChoicePath, s.handleLinkChoicePage)
	s.form("POST "+linkChoicePath, s.handleLinkChoice)
	s.endpoint("GET /saml/{provider}/metadata", s.adapt(s.handleSAMLMetadata))
	s.upstream("GET /saml/{provider}/slo", defaultBodyLimit, s.handleSAMLSLO)
	s.upstream("POST /saml/{provider}/slo", defaultBodyLimit, s.handleSAMLSLO)
	s.page("GET /account", s.handleAccount)
	s.form("POST /account/sessions/end", s.handleSessionEnd)
	s.form("POST /account/link", s.handleLink)
	s.form("POST /account/unlink", s.handleUnlink)
	s.page("GET /logout", s.handleLogoutPage)
	s.form("POST /logout", s.handleLogout)
	s.page("GET /signed-out", s.handleSignedOut)

	s.endpoint("GET /healthz", http.HandlerFunc(s.handleHealthz))
	s.endpoint("GET /readyz", http.HandlerFunc(s.handleReadyz))
	s.endpoint("GET /metrics", s.web.Metrics.Handler())

	s.endpoint("GET /.well-known/openid-configuration", http.HandlerFunc(s.handleDiscovery))
	s.endpoint("GET /.well-known/oauth-authorization-server", http.HandlerFunc(s.handleDiscovery))
	s.endpoint("GET /oauth2/jwks", s.adapt(s.handleJWKS))
	s.oauthEndpoint("POST /oauth2/token", s.handleToken)
	s.oauthEndpoint("POST /oauth2/introspect", s.handleIntrospect)
	s.oauthEndpoint("POST /oauth2/revoke", s.handleRevoke)
	s.endpoint("GET /oauth2/userinfo", http.HandlerFunc(s.handleUserInfo))
	s.endpoint("POST /oauth2/userinfo", http.HandlerFunc(s.handleUserInfo))

	// The browser side of OAuth (issue 4). Authorization requests arrive from any
	// site, by GET or by an application's auto-POST, so they are pages, not forms;
	// the consent decision and the revocation of an app are forms.
	s.page("GET /oauth2/authorize", s.handleAuthorize)
	s.page("POST /oauth2/authorize", s.handleAuthorize)
	s.page("GET /oauth2/authorize/resume", s.handleAuthorizeResume)
	s.form("POST /oauth2/consent", s.handleConsentSubmit)
	s.form("POST /account/apps/revoke", s.handleConsentRevoke)
	s.page("GET /oauth2/logout", s.handleEndSession)
	s.page("POST /oauth2/logout", s.handleEndSession)
	s.form("POST /oauth2/logout/confirm", s.handleEndSessionConfirm)

	s.unmatched = s.web.Metrics.Instrument("unmatched", s.adapt(s.handleUnmatched))
}

func (s *Server) page(pattern string, h handlerFunc) {
	s.mux.Handle(pattern, s.web.Metrics.Instrument(pattern, s.limitBody(defaultBodyLimit, s.adapt(h))))
}

func (s *Server) form(pattern string, h handlerFunc) {
	s.forms = append(s.forms, pattern)
	s.mux.Handle(pattern, s.web.Metrics.Instrument(pattern, s.limitBody(defaultBodyLimit, s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.checkCSRF(r); err != nil {
			return err
		}
		return h(w, r)
	}))))
}

// oauthEndpoint is an endpoint for OAuth clients: errors, an oversized body included,
// are RFC 6749 §5.2 JSON, never a page.
func (s *Server) oauthEndpoint(pattern string, h handlerFunc) {
	adapted := s.adaptOAuth(h)
	s.mux.Handle(pattern, s.web.Metrics.Instrument(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > oauthBodyLimit {
			w.Header().Set("Connection", "close")
			s.writeOAuthError(w, r, &http.MaxBytesError{Limit: oauthBodyLimit})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, oauthBodyLimit)
		adapted.ServeHTTP(w, r)
	})))
}

func (s *Server) endpoint(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.web.Metrics.Instrument(pattern, s.limitBody(defaultBodyLimit, h)))
}

func (s *Server) upstream(pattern string, limit int64, h handlerFunc) {
	s.mux.Handle(pattern, s.web.Metrics.Instrument(pattern, s.limitBody(limit, s.adapt(h))))
}
