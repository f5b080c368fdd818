package broker

import (
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse/broker/oauth"
)

// mtlsPaths are what the mTLS listener serves (RFC 8705 §5 mtls_endpoint_aliases):
// the OAuth endpoints where clients authenticate or present tokens, and the
// metadata describing them. Nothing a person's browser visits: the listener asks
// every caller for a certificate.
var mtlsPaths = []string{
	"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/userinfo", "/oauth2/device_authorization",
	"/oauth2/jwks", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
}

// MTLSHandler is the handler of the GATEHOUSE_MTLS_LISTEN_ADDR listener: the
// server's own handler for mtlsPaths, 404 for anything else.
func (s *Server) MTLSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(mtlsPaths, r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		s.ServeHTTP(w, r.WithContext(oauth.OnMTLSAlias(r.Context())))
	})
}
