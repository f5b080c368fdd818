package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker/dpop"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// discoveryDocument is the metadata served at both /.well-known/openid-configuration
// (OpenID Connect Discovery 1.0 §3) and /.well-known/oauth-authorization-server
// (RFC 8414 §2). It lists only what works; each endpoint adds itself as it lands.
// apiScopes are the registered APIs' scopes, added to scopes_supported.
func (s *Server) discoveryDocument(apiScopes ...string) ([]byte, error) {
	authMethods := registry.AuthMethods
	confidential := []string{registry.AuthSecretBasic, registry.AuthSecretPost, registry.AuthPrivateKeyJWT,
		registry.AuthTLSClient, registry.AuthSelfSignedTLSClient}
	if s.cfg.MTLSClientCAs == nil {
		// tls_client_auth needs the CAs of GATEHOUSE_MTLS_CLIENT_CA_FILE (RFC 8705 §2.1).
		noCA := func(m string) bool { return m == registry.AuthTLSClient }
		authMethods = slices.DeleteFunc(slices.Clone(authMethods), noCA)
		confidential = slices.DeleteFunc(confidential, noCA)
	}
	doc := map[string]any{
		"issuer":                  s.cfg.Issuer.String(),
		"jwks_uri":                s.url("/oauth2/jwks"),
		"subject_types_supported": []string{"public"},
		// OIDC Discovery §3: every alg an ID token may be signed with, RS256 among them.
		"id_token_signing_alg_values_supported":                    s.keys.IDTokenAlgorithms(),
		"token_endpoint":                                           s.url("/oauth2/token"),
		"grant_types_supported":                                    registry.GrantTypes,
		"token_endpoint_auth_methods_supported":                    authMethods,
		"token_endpoint_auth_signing_alg_values_supported":         registry.AssertionAlgs,
		"introspection_endpoint":                                   s.url("/oauth2/introspect"),
		"introspection_endpoint_auth_methods_supported":            confidential,
		"introspection_endpoint_auth_signing_alg_values_supported": registry.AssertionAlgs,
		"revocation_endpoint":                                      s.url("/oauth2/revoke"),
		"revocation_endpoint_auth_methods_supported":               authMethods,
		"revocation_endpoint_auth_signing_alg_values_supported":    registry.AssertionAlgs,
		// PKCE is verified at the token endpoint, S256 only (RFC 7636 §4.2, AS-PKCE-02).
		"code_challenge_methods_supported": []string{"S256"},
		// RFC 9449 §5.1: the algorithms DPoP proofs may use.
		"dpop_signing_alg_values_supported": dpop.SupportedAlgs,
		// offline_access included (OIDC Core §11): consented like any scope; refresh
		// tokens go to clients with the refresh_token grant.
		"scopes_supported": append(slices.Clone(token.IdentityScopes), apiScopes...),
		// The browser side: authorization code flow only, PKCE S256, iss in every
		// authorization response (RFC 9207 §3), no request objects (OIDC Core §6).
		"authorization_endpoint":                         s.url("/oauth2/authorize"),
		"userinfo_endpoint":                              s.url("/oauth2/userinfo"),
		"end_session_endpoint":                           s.url("/oauth2/logout"),
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query", "form_post"},
		"authorization_response_iss_parameter_supported": true,
		"prompt_values_supported":                        []string{"none", "login", "consent", "select_account"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp",
			"at_hash", "sid", "name", "email", "email_verified"},
		// Gatehouse's own acr: a step-up with a security key (issue 15).
		"acr_values_supported":            []string{web.ACRSecurityKey},
		"claims_parameter_supported":      false,
		"request_parameter_supported":     false,
		"request_uri_parameter_supported": false,
		// RFC 8628 §4: devices without a browser; grant_types_supported lists its grant.
		"device_authorization_endpoint": s.url(DeviceAuthorizationPath),
		// RFC 8705 §3.3: access tokens are bound to the client certificate the
		// token request came with.
		"tls_client_certificate_bound_access_tokens": true,
		// The languages of the pages ui_locales can choose (OIDC Discovery §3).
		"ui_locales_supported": uiLocales(),
	}
	if base := s.cfg.MTLSBaseURL(); base != nil {
		// RFC 8705 §5: the endpoints clients reach with a certificate, on the
		// listener that asks for one.
		b := base.String()
		doc["mtls_endpoint_aliases"] = map[string]string{
			"token_endpoint":                b + "/oauth2/token",
			"introspection_endpoint":        b + "/oauth2/introspect",
			"revocation_endpoint":           b + "/oauth2/revoke",
			"userinfo_endpoint":             b + "/oauth2/userinfo",
			"device_authorization_endpoint": b + DeviceAuthorizationPath,
		}
	}
	return json.Marshal(doc)
}

// discoveryCache holds the discovery document with the registered APIs' scopes,
// re-read at most every registry.CacheTTL.
type discoveryCache struct {
	mu     sync.Mutex
	doc    []byte
	loaded time.Time
}

// currentDiscovery returns the document with the current API scopes; if the APIs
// cannot be read it serves the last good document, or the one without them.
func (s *Server) currentDiscovery(ctx context.Context) []byte {
	c := &s.discoveryAPIs
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.Now()
	if c.doc != nil && now.Sub(c.loaded) < registry.CacheTTL && !now.Before(c.loaded) {
		return c.doc
	}
	apis, err := s.store.APIs().List(ctx)
	if err != nil {
		if c.doc != nil {
			return c.doc
		}
		return s.discovery
	}
	var scopes []string
	for _, a := range apis {
		for _, sc := range a.Scopes {
			if !slices.Contains(scopes, sc.Name) && !slices.Contains(token.IdentityScopes, sc.Name) {
				scopes = append(scopes, sc.Name)
			}
		}
	}
	slices.Sort(scopes)
	doc, err := s.discoveryDocument(scopes...)
	if err != nil {
		return s.discovery
	}
	c.doc, c.loaded = doc, now
	return doc
}

// url is the absolute public URL of a path on this issuer.
func (s *Server) url(path string) string { return s.cfg.Issuer.String() + path }

func (s *Server) HandleDiscovery(w http.ResponseWriter, r *http.Request) {
	publicJSON(w)
	w.Write(s.currentDiscovery(r.Context()))
}

// HandleJWKS publishes the token-verification keys (RFC 7517 §5), served from the key
// manager's cache.
func (s *Server) HandleJWKS(w http.ResponseWriter, r *http.Request) error {
	b, err := s.publishedJWKS(r.Context())
	if err != nil {
		return err
	}
	publicJSON(w)
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(b)
	return nil
}

// publishedJWKS is the JWKS without any key revoked as compromised, on this replica
// or another (SECURITY.md AS-JWT-10). The key cache is reread only every refresh
// interval, so the revocation list, which every replica shares, is checked on each
// request: one indexed query over the few published kids.
func (s *Server) publishedJWKS(ctx context.Context) ([]byte, error) {
	kids, err := s.keys.KeyIDs(ctx)
	if err != nil {
		return nil, err
	}
	latest, err := s.store.Revocations().Latest(ctx, keyRevocationKeys(kids))
	if err != nil || latest.IsZero() {
		if err != nil {
			return nil, err
		}
		return s.keys.JWKS(ctx)
	}
	// A key was revoked: reread the keys (Revoke deleted it), and leave out any
	// revoked key still listed (the revoking command stopped half-way).
	if err := s.keys.Refresh(ctx); err != nil {
		return nil, err
	}
	if kids, err = s.keys.KeyIDs(ctx); err != nil {
		return nil, err
	}
	var revoked []string
	for _, kid := range kids {
		t, err := s.store.Revocations().Latest(ctx, []string{token.KeyRevocationKey(kid)})
		if err != nil {
			return nil, err
		}
		if !t.IsZero() {
			revoked = append(revoked, kid)
		}
	}
	return s.keys.JWKSWithout(ctx, revoked)
}

func keyRevocationKeys(kids []string) []string {
	out := make([]string, len(kids))
	for i, kid := range kids {
		out[i] = token.KeyRevocationKey(kid)
	}
	return out
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

func uiLocales() []string {
	var out []string
	for _, t := range templates.Locales() {
		out = append(out, t.String())
	}
	return out
}
