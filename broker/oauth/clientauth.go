package oauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/go-jose/go-jose/v4"
)

// AssertionType is the client_assertion_type of private_key_jwt (RFC 7523 §2.2).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

var errNoCredentials = errors.New("no client credentials")

// clientRequest is how every client-authenticated endpoint (token, introspection,
// revocation) starts: the caller's IP limit, the form (RFC 6749 §3.2 rules), then
// client authentication.
func (s *Server) clientRequest(r *http.Request) (form, *store.Client, error) {
	if err := s.limitIP(r); err != nil {
		return form{}, nil, err
	}
	f, err := readForm(r)
	if err != nil {
		return form{}, nil, err
	}
	if f.cert, err = s.certs.Certificate(r); err != nil {
		// A trusted proxy sent a Client-Cert header that does not parse (RFC 9440):
		// nothing can be bound to it or authenticated with it.
		return form{}, nil, s.clientAuthFailed(r, "", "", "bad_certificate", err)
	}
	c, err := s.authenticateClient(r, f)
	return f, c, err
}

// limitIP applies the per-address bucket; every OAuth endpoint calls it first.
func (s *Server) limitIP(r *http.Request) error {
	if ok, after := s.ipLimit.Take(web.InfoFrom(r.Context()).IP, 1); !ok {
		return web.TooManyRequests(after)
	}
	return nil
}

// authenticateClient identifies and authenticates the client of a token,
// introspection or revocation request by the one method it used (RFC 6749 §2.3:
// exactly one per request) and the method the client registered: client_secret_basic,
// client_secret_post, private_key_jwt, or none for public clients, which then only
// identify themselves, tls_client_auth and self_signed_tls_client_auth (RFC 8705
// §2: the client_id parameter names the client, its certificate authenticates it).
// Every failure is the same invalid_client.
func (s *Server) authenticateClient(r *http.Request, f form) (*store.Client, error) {
	if len(r.Header.Values("Authorization")) > 1 {
		// RFC 6749 §2.3, §5.2: one set of credentials per request. With two headers
		// a proxy and Gatehouse could each read a different one.
		return nil, web.Rejected(web.InvalidRequest("send at most one Authorization header"), "duplicate_authorization", "", "", nil)
	}
	basicID, basicSecret, hasBasic, err := basicCredentials(r)
	if err != nil {
		return nil, s.clientAuthFailed(r, "", "", "malformed_basic", err)
	}
	hasPost := f.get("client_secret") != ""
	hasJWT := f.get("client_assertion") != "" || f.get("client_assertion_type") != ""
	if btoi(hasBasic)+btoi(hasPost)+btoi(hasJWT) > 1 {
		return nil, web.InvalidRequest("use exactly one client authentication method")
	}
	id, method := f.get("client_id"), registry.AuthNone
	var assertion *clientAssertion
	switch {
	case hasBasic:
		if id != "" && id != basicID {
			return nil, web.InvalidRequest("client_id does not match the authenticated client")
		}
		id, method = basicID, registry.AuthSecretBasic
	case hasPost:
		method = registry.AuthSecretPost
	case hasJWT:
		method = registry.AuthPrivateKeyJWT
		if f.get("client_assertion_type") != AssertionType {
			return nil, s.clientAuthFailed(r, id, method, "bad_assertion", errors.New("unsupported client_assertion_type"))
		}
		if assertion, err = parseClientAssertion(f.get("client_assertion")); err != nil {
			return nil, s.clientAuthFailed(r, id, method, "bad_assertion", err)
		}
		if id == "" {
			id = assertion.subject // RFC 7523 §3: client_id is optional with an assertion
		}
	}
	if id == "" {
		return nil, s.clientAuthFailed(r, "", method, "no_credentials", errNoCredentials)
	}
	if ok, after := s.clientLimit.Take(id, 1); !ok {
		return nil, web.TooManyRequests(after)
	}
	c, err := s.registry.Client(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if method == registry.AuthNone && c != nil && isTLSClientAuth(c.TokenEndpointAuthMethod) {
		// RFC 8705 §2: no credential in the request; the method is the one the
		// client registered, and its certificate must satisfy it.
		method = c.TokenEndpointAuthMethod
	}
	switch method {
	case registry.AuthSecretBasic, registry.AuthSecretPost:
		secret := basicSecret
		if method == registry.AuthSecretPost {
			secret = f.get("client_secret")
		}
		var stored []byte
		if c != nil && c.TokenEndpointAuthMethod == method {
			stored = c.SecretHash
		}
		// Always hash and compare, so an unknown client costs what a wrong secret does.
		if !registry.SecretMatches(stored, secret) {
			return nil, s.clientAuthFailed(r, id, method, "bad_secret", errors.New("unknown client, other method or wrong secret"))
		}
	case registry.AuthPrivateKeyJWT:
		if c == nil || c.TokenEndpointAuthMethod != method {
			return nil, s.clientAuthFailed(r, id, method, "bad_assertion", errors.New("unknown client or other method"))
		}
		if err := s.verifyClientAssertion(r, c, assertion); err != nil {
			return nil, s.clientAuthFailed(r, id, method, "bad_assertion", err)
		}
	case registry.AuthTLSClient, registry.AuthSelfSignedTLSClient:
		if err := s.verifyClientCertificate(r, c, f.cert); err != nil {
			return nil, s.clientAuthFailed(r, id, method, "bad_certificate", err)
		}
	default: // none: a public client identifies itself and proves nothing (PKCE does).
		if c == nil || c.TokenEndpointAuthMethod != registry.AuthNone || !c.Public {
			return nil, s.clientAuthFailed(r, id, method, "no_credentials", errors.New("unknown client, or a confidential client without credentials"))
		}
	}
	return c, nil
}

// clientAuthFailed counts the failure against the caller's address and the claimed
// client (so guessing runs into 429) and returns invalid_client, which the error
// writer records in the audit log (auditRejection) with reason and method.
func (s *Server) clientAuthFailed(r *http.Request, clientID, method, reason string, cause error) error {
	s.ipLimit.Charge(web.InfoFrom(r.Context()).IP, failureCost)
	if clientID == "" {
		clientID = "unknown"
	} else {
		s.clientLimit.Charge(clientID, failureCost)
	}
	return web.Rejected(web.InvalidClient(cause), reason, clientID, "", map[string]any{"method": method})
}

// basicCredentials reads client_secret_basic credentials: RFC 6749 §2.3.1 encodes
// client ID and secret with application/x-www-form-urlencoded before Basic
// encoding them, so they are unescaped here.
func basicCredentials(r *http.Request) (id, secret string, ok bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false, nil
	}
	scheme, value, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, errors.New("authorization header is not Basic")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
	if err != nil {
		return "", "", false, errors.New("basic credentials are not base64")
	}
	rawID, rawSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false, errors.New("basic credentials have no colon")
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", false, fmt.Errorf("basic client ID: %w", err)
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", false, errors.New("basic secret is not form-encoded")
	}
	if id == "" {
		return "", "", false, errors.New("basic credentials have no client ID")
	}
	return id, secret, true, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clientAssertion is a parsed, not yet verified private_key_jwt assertion.
type clientAssertion struct {
	jws     *jose.JSONWebSignature
	subject string
	claims  assertionClaims
}

type assertionClaims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Audience  json.RawMessage `json:"aud"`
	Expiry    *float64        `json:"exp"`
	NotBefore *float64        `json:"nbf"`
	IssuedAt  *float64        `json:"iat"`
	ID        string          `json:"jti"`
}

var assertionAlgs = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(registry.AssertionAlgs))
	for i, a := range registry.AssertionAlgs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// Assertion time rules (RFC 7523 §3): a short leeway for clock skew, and a cap on how
// far ahead exp may be, which bounds how long jti values must be remembered.
const (
	assertionLeeway      = 30 * time.Second
	assertionMaxLifetime = 10 * time.Minute
)

// parseClientAssertion parses the compact JWS with an asymmetric algorithm only (no
// none, no HMAC keyed with a public key: RFC 8725 §3.1) and refuses headers that
// would bring their own key (jwk, jku, x5u, x5c: §3.10).
func parseClientAssertion(raw string) (*clientAssertion, error) {
	jws, err := jose.ParseSignedCompact(raw, assertionAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errors.New("client assertion is not a compact JWS with an allowed algorithm")
	}
	seg, _, _ := strings.Cut(raw, ".")
	hb, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, errors.New("client assertion header is not base64url")
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(hb, &header); err != nil {
		return nil, errors.New("client assertion header is not JSON")
	}
	for name := range header {
		if name != "alg" && name != "kid" && name != "typ" {
			return nil, fmt.Errorf("client assertion header parameter %q is not accepted", web.Truncate(name, 32))
		}
	}
	a := &clientAssertion{jws: jws}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &a.claims); err != nil {
		return nil, errors.New("client assertion claims are not JSON")
	}
	a.subject = a.claims.Subject
	return a, nil
}

// verifyClientAssertion checks the assertion's signature against the client's keys
// and its claims per RFC 7523 §3 and OIDC Core §9: iss = sub = client_id; aud is the
// issuer, the token endpoint or the endpoint called; exp within bounds; jti used once
// (store.Replay, so once across every replica).
func (s *Server) verifyClientAssertion(r *http.Request, c *store.Client, a *clientAssertion) error {
	set, err := s.clientKeys(r, c)
	if err != nil {
		return err
	}
	h := a.jws.Signatures[0].Header
	var payload []byte
	for _, k := range set.Keys {
		if (h.KeyID != "" && k.KeyID != h.KeyID) || (k.Algorithm != "" && k.Algorithm != h.Algorithm) || k.Use == "enc" {
			continue
		}
		if p, err := a.jws.Verify(k.Key); err == nil {
			payload = p
			break
		}
	}
	if payload == nil {
		return errors.New("client assertion signature does not verify with the client's keys")
	}
	cl := a.claims
	if cl.Issuer != c.ID || cl.Subject != c.ID {
		return errors.New("client assertion iss and sub must be the client ID")
	}
	if !s.assertionAudienceOK(r, cl.Audience) {
		return errors.New("client assertion aud is not this server")
	}
	now := s.Now()
	if cl.Expiry == nil || cl.ID == "" {
		return errors.New("client assertion lacks exp or jti")
	}
	exp := time.Unix(int64(*cl.Expiry), 0)
	switch {
	case !now.Before(exp.Add(assertionLeeway)):
		return errors.New("client assertion expired")
	case exp.After(now.Add(assertionMaxLifetime)):
		return errors.New("client assertion exp too far in the future")
	case cl.NotBefore != nil && time.Unix(int64(*cl.NotBefore), 0).After(now.Add(assertionLeeway)):
		return errors.New("client assertion not yet valid")
	case cl.IssuedAt != nil && time.Unix(int64(*cl.IssuedAt), 0).After(now.Add(assertionLeeway)):
		return errors.New("client assertion issued in the future")
	}
	key := "client_assertion:" + c.ID + ":" + web.Truncate(cl.ID, 256)
	if err := s.store.Replay().Remember(r.Context(), key, exp.Add(assertionLeeway), now); err != nil {
		if errors.Is(err, store.ErrAlreadyUsed) {
			return errors.New("client assertion jti replayed")
		}
		return err
	}
	return nil
}

// assertionAudienceOK accepts the issuer or the URL of the token endpoint (RFC 7523
// §3; OIDC Core §9; oidcc-ensure-client-assertion-with-iss-aud-succeeds), or of the
// endpoint the assertion was sent to.
func (s *Server) assertionAudienceOK(r *http.Request, raw json.RawMessage) bool {
	var auds []string
	var one string
	if json.Unmarshal(raw, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(raw, &auds) != nil {
		return false
	}
	ok := []string{s.cfg.Issuer.String(), s.url("/oauth2/token"), s.url(r.URL.Path)}
	if base := s.cfg.MTLSBaseURL(); base != nil {
		// The token endpoint's mTLS alias (RFC 8705 §5) is the same endpoint.
		ok = append(ok, base.String()+"/oauth2/token", base.String()+r.URL.Path)
	}
	for _, a := range auds {
		if slices.Contains(ok, a) {
			return true
		}
	}
	return false
}

// clientKeys returns the client's registered JWKS, or the one at its JWKS URI,
// fetched through the SSRF-guarded client and cached for jwksCacheTTL.
func (s *Server) clientKeys(r *http.Request, c *store.Client) (*jose.JSONWebKeySet, error) {
	if len(c.JWKS) > 0 {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(c.JWKS, &set); err != nil {
			return nil, errors.New("client JWKS does not parse")
		}
		return &set, nil
	}
	if c.JWKSURI == "" {
		return nil, errors.New("client has no keys")
	}
	return s.jwksCache.get(r, s.httpClient, c.JWKSURI, s.Now())
}

const jwksCacheTTL = 5 * time.Minute

// jwksCache holds fetched client JWKS documents by URI.
type jwksCache struct {
	mu   sync.Mutex
	sets map[string]fetchedJWKS
}

type fetchedJWKS struct {
	set     *jose.JSONWebKeySet
	fetched time.Time
}

func (jc *jwksCache) get(r *http.Request, hc *http.Client, uri string, now time.Time) (*jose.JSONWebKeySet, error) {
	jc.mu.Lock()
	f, ok := jc.sets[uri]
	jc.mu.Unlock()
	if ok && now.Sub(f.fetched) < jwksCacheTTL {
		return f.set, nil
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch client JWKS: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch client JWKS: status %d", res.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, 256<<10))
	if err != nil {
		return nil, fmt.Errorf("fetch client JWKS: %w", err)
	}
	if err := registry.ValidateJWKS(b); err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, err
	}
	jc.mu.Lock()
	if jc.sets == nil || len(jc.sets) >= registry.MaxCached {
		jc.sets = map[string]fetchedJWKS{}
	}
	jc.sets[uri] = fetchedJWKS{set: &set, fetched: now}
	jc.mu.Unlock()
	return &set, nil
}

// failureCost is what a failed client authentication takes from the caller's and
// the claimed client's buckets: guessing secrets exhausts a bucket this many times
// faster than legitimate use does (DOS-07, AS-CA-02).
const failureCost = 100
