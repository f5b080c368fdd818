package broker

import (
	"encoding/json"
	"net/http"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/token"
)

// discoveryDocument is the metadata served at both /.well-known/openid-configuration
// (OpenID Connect Discovery 1.0 §3) and /.well-known/oauth-authorization-server
// (RFC 8414 §2). It lists only what works; each endpoint adds itself as it lands.
func (s *Server) discoveryDocument() ([]byte, error) {
	authMethods := registry.AuthMethods
	confidential := []string{registry.AuthSecretBasic, registry.AuthSecretPost, registry.AuthPrivateKeyJWT}
	return json.Marshal(map[string]any{
		"issuer":                                s.cfg.Issuer.String(),
		"jwks_uri":                              s.url("/oauth2/jwks"),
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{s.cfg.SigningAlgorithm},
		"token_endpoint":                        s.url("/oauth2/token"),
		"grant_types_supported":                 registry.GrantTypes,
		"token_endpoint_auth_methods_supported": authMethods,
		"token_endpoint_auth_signing_alg_values_supported":         registry.AssertionAlgs,
		"introspection_endpoint":                                   s.url("/oauth2/introspect"),
		"introspection_endpoint_auth_methods_supported":            confidential,
		"introspection_endpoint_auth_signing_alg_values_supported": registry.AssertionAlgs,
		"revocation_endpoint":                                      s.url("/oauth2/revoke"),
		"revocation_endpoint_auth_methods_supported":               authMethods,
		"revocation_endpoint_auth_signing_alg_values_supported":    registry.AssertionAlgs,
		// PKCE is verified at the token endpoint, S256 only (RFC 7636 §4.2, AS-PKCE-02).
		"code_challenge_methods_supported": []string{"S256"},
		"scopes_supported":                 token.IdentityScopes[:1],
	})
}

// url is the absolute public URL of a path on this issuer.
func (s *Server) url(path string) string { return s.cfg.Issuer.String() + path }

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	publicJSON(w)
	w.Write(s.discovery)
}

// handleJWKS publishes the token-verification keys (RFC 7517 §5), served from the key
// manager's cache.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) error {
	b, err := s.keys.JWKS(r.Context())
	if err != nil {
		return err
	}
	publicJSON(w)
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(b)
	return nil
}

// publicJSON marks a response as public metadata: cacheable for five minutes (less
// than the key publish delay, so caches always hold a key before it signs) and
// readable by browser apps on any origin.
func publicJSON(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*")
}
