package broker

import (
	"encoding/json"
	"net/http"
)

// discoveryDocument is the metadata served at both /.well-known/openid-configuration
// (OpenID Connect Discovery 1.0 §3) and /.well-known/oauth-authorization-server
// (RFC 8414 §2). It lists only what works; each endpoint adds itself as it lands.
func (s *Server) discoveryDocument() ([]byte, error) {
	return json.Marshal(map[string]any{
		"issuer":                                s.cfg.Issuer.String(),
		"jwks_uri":                              s.url("/oauth2/jwks"),
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{s.cfg.SigningAlgorithm},
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
