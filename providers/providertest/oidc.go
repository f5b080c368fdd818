package providertest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// OIDCOptions configures an OIDCIssuer.
type OIDCOptions struct {
	ClientID, ClientSecret string
	// Now is the issuer's clock (required: tests use a fixed clock).
	Now func() time.Time
	// Addr, if set, is the loopback address to listen on (the demo keeps its
	// issuers across restarts); when it is taken, any free port is used.
	Addr string
	// AdvertiseIssParameter sets authorization_response_iss_parameter_supported
	// in discovery (RFC 9207 §3).
	AdvertiseIssParameter bool
	// Claims are the user's claims; "sub" defaults to "alice".
	Claims map[string]any
	// Users, if set, makes /authorize show a "pick who you are" page (the
	// demo); the chosen user's claims replace Claims for that sign-in.
	Users []DemoUser
	// PickPage, if set, writes that page (the demo's, in the person's
	// language); else it is in English.
	PickPage PickPage
}

// DemoUser is a person the demo IdPs offer on their pick-who-you-are page.
type DemoUser struct {
	// Label is what the page shows.
	Label string
	// Claims are OIDC claims (sub required); for the SAML IdP see SAMLIdP.
	Claims map[string]any
}

// OIDCIssuer is an OpenID Provider on httptest: discovery, JWKS,
// /authorize (302 back with code, state and iss), /token and /userinfo.
// Exported knob fields may be changed between requests with Set.
type OIDCIssuer struct {
	Server *httptest.Server
	opts   OIDCOptions
	mux    *http.ServeMux

	// JWKSHits counts GET /jwks.
	JWKSHits atomic.Int64
	// TokenHits counts POST /token.
	TokenHits atomic.Int64
	// LogoutHits counts GET /logout (RP-initiated logout).
	LogoutHits atomic.Int64

	mu        sync.Mutex
	keys      []*SigningKey // published; keys[0] signs unless Knobs.Key is set
	codes     map[string]grant
	knobs     Knobs
	authorize []url.Values
}

// sessionAge is how long ago the person signed in at the issuer, unless a
// request makes them sign in again: auth_time is now - sessionAge.
const sessionAge = time.Minute

// Knobs script the issuer's next answers. Zero values mean "behave".
type Knobs struct {
	// Key signs ID tokens instead of the first published key (e.g. a key that
	// is not or no longer in the JWKS).
	Key *SigningKey
	// OmitKID leaves kid out of the JWS header.
	OmitKID bool
	// Header adds JWS header fields.
	Header map[string]any
	// Claims override ID token claims; a nil value deletes the claim.
	Claims map[string]any
	// Sign, if set, replaces signing entirely (alg none, HS256 confusion...).
	Sign func(claims map[string]any) string
	// OmitIssParameter leaves iss out of the authorization response;
	// IssParameter, if set, sends that value instead of the issuer.
	OmitIssParameter bool
	IssParameter     string
	// DiscoveryIssuer overrides the issuer in the discovery document.
	DiscoveryIssuer string
	// AuthorizeError makes /authorize answer with error= and this code.
	AuthorizeError, AuthorizeErrorDescription string
	// UserinfoClaims override /userinfo claims.
	UserinfoClaims map[string]any
	// IgnorePKCE makes /token skip the code_verifier check.
	IgnorePKCE bool
	// TokenType replaces "Bearer" as the token response's token_type;
	// OmitTokenType leaves the member out (RFC 6749 §5.1 requires it).
	TokenType     string
	OmitTokenType bool
	// TricklePath makes the response to this path (e.g. "/jwks") arrive one
	// byte every 50 ms after its headers, a slow or hostile IdP.
	TricklePath string
}

// SigningKey is a key the issuer signs with.
type SigningKey struct {
	KID    string
	Alg    jose.SignatureAlgorithm
	Signer crypto.Signer
}

// NewRSAKey generates a 2048-bit RS256 key.
func NewRSAKey(kid string) *SigningKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return &SigningKey{KID: kid, Alg: jose.RS256, Signer: k}
}

// NewECKey generates a P-256 ES256 key.
func NewECKey(kid string) *SigningKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return &SigningKey{KID: kid, Alg: jose.ES256, Signer: k}
}

type grant struct {
	clientID, redirectURI, nonce, challenge string
	claims                                  map[string]any // nil: opts.Claims
	// fresh: the person signed in again for this request (prompt=login, or
	// max_age shorter than the session's age), so auth_time is now.
	fresh bool
}

// AuthorizeRequests returns the query of every /authorize request received,
// oldest first.
func (i *OIDCIssuer) AuthorizeRequests() []url.Values {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make([]url.Values, len(i.authorize))
	for n, q := range i.authorize {
		out[n] = maps.Clone(q)
	}
	return out
}

// NewOIDCIssuer starts an issuer publishing keys (one RS256 key if none).
// Close it with t.Cleanup(iss.Close).
func NewOIDCIssuer(opts OIDCOptions, keys ...*SigningKey) *OIDCIssuer {
	if len(keys) == 0 {
		keys = []*SigningKey{NewRSAKey("k1")}
	}
	if opts.Claims == nil {
		opts.Claims = map[string]any{}
	}
	if _, ok := opts.Claims["sub"]; !ok {
		opts.Claims["sub"] = "alice"
	}
	mux := http.NewServeMux()
	iss := &OIDCIssuer{opts: opts, keys: keys, codes: map[string]grant{}, mux: mux}
	mux.HandleFunc("GET /.well-known/openid-configuration", iss.discovery)
	mux.HandleFunc("GET /jwks", iss.jwks)
	mux.HandleFunc("GET /authorize", iss.handleAuthorize)
	mux.HandleFunc("POST /token", iss.token)
	mux.HandleFunc("GET /userinfo", iss.userinfo)
	mux.HandleFunc("GET /logout", iss.logout)
	iss.Server = serverOn(opts.Addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		trickle := iss.knobs.TricklePath
		iss.mu.Unlock()
		if trickle == "" || r.URL.Path != trickle {
			mux.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		for _, b := range rec.Body.Bytes() {
			w.Write([]byte{b})
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	return iss
}

// URL is the issuer identifier.
func (i *OIDCIssuer) URL() string { return i.Server.URL }

// Close stops the server.
func (i *OIDCIssuer) Close() { i.Server.Close() }

// Handle serves h at pattern besides the issuer's own endpoints (the demo's
// token minting).
func (i *OIDCIssuer) Handle(pattern string, h http.Handler) { i.mux.Handle(pattern, h) }

// Set changes the knobs under the issuer's lock.
func (i *OIDCIssuer) Set(f func(k *Knobs)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	f(&i.knobs)
}

// SetKeys replaces the published keys (key rotation).
func (i *OIDCIssuer) SetKeys(keys ...*SigningKey) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = keys
}

// Keys returns the published keys.
func (i *OIDCIssuer) Keys() []*SigningKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]*SigningKey(nil), i.keys...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (i *OIDCIssuer) discovery(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	issuer := i.URL()
	if i.knobs.DiscoveryIssuer != "" {
		issuer = i.knobs.DiscoveryIssuer
	}
	i.mu.Unlock()
	base := i.URL()
	writeJSON(w, 200, map[string]any{
		"issuer":                                         issuer,
		"authorization_endpoint":                         base + "/authorize",
		"token_endpoint":                                 base + "/token",
		"userinfo_endpoint":                              base + "/userinfo",
		"jwks_uri":                                       base + "/jwks",
		"end_session_endpoint":                           base + "/logout",
		"response_types_supported":                       []string{"code"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256", "ES256"},
		"code_challenge_methods_supported":               []string{"S256"},
		"authorization_response_iss_parameter_supported": i.opts.AdvertiseIssParameter,
	})
}

func (i *OIDCIssuer) jwks(w http.ResponseWriter, r *http.Request) {
	i.JWKSHits.Add(1)
	var set jose.JSONWebKeySet
	for _, k := range i.Keys() {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Signer.Public(), KeyID: k.KID, Algorithm: string(k.Alg), Use: "sig"})
	}
	writeJSON(w, 200, set)
}

func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (i *OIDCIssuer) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	i.mu.Lock()
	i.authorize = append(i.authorize, q)
	i.mu.Unlock()
	if q.Get("client_id") != i.opts.ClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !redirect.IsAbs() {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	var claims map[string]any
	if len(i.opts.Users) > 0 {
		n, err := strconv.Atoi(q.Get("user"))
		if err != nil || n < 0 || n >= len(i.opts.Users) {
			i.pickUser(w, r)
			return
		}
		claims = i.opts.Users[n].Claims
	}
	i.mu.Lock()
	k := i.knobs
	resp := url.Values{"state": {q.Get("state")}}
	if k.AuthorizeError != "" {
		resp.Set("error", k.AuthorizeError)
		resp.Set("error_description", k.AuthorizeErrorDescription)
	} else {
		code := randomString()
		i.codes[code] = grant{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"),
			nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), claims: claims, fresh: reauth(q)}
		resp.Set("code", code)
	}
	i.mu.Unlock()
	switch {
	case k.IssParameter != "":
		resp.Set("iss", k.IssParameter)
	case !k.OmitIssParameter:
		resp.Set("iss", i.URL())
	}
	redirect.RawQuery = resp.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (i *OIDCIssuer) token(w http.ResponseWriter, r *http.Request) {
	i.TokenHits.Add(1)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != i.opts.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(i.opts.ClientSecret)) != 1 {
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	i.mu.Lock()
	g, found := i.codes[r.PostForm.Get("code")]
	delete(i.codes, r.PostForm.Get("code")) // single use
	k := i.knobs
	i.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	pkceOK := k.IgnorePKCE || base64.RawURLEncoding.EncodeToString(sum[:]) == g.challenge
	if !found || g.redirectURI != r.PostForm.Get("redirect_uri") || !pkceOK {
		writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
		return
	}
	access := randomString()
	idToken := i.idToken(g.nonce, access, g.claims, g.fresh)
	resp := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": idToken}
	switch {
	case k.OmitTokenType:
		delete(resp, "token_type")
	case k.TokenType != "":
		resp["token_type"] = k.TokenType
	}
	writeJSON(w, 200, resp)
}

// Claims returns the ID token claims the issuer would send, knobs applied.
func (i *OIDCIssuer) Claims(nonce string) map[string]any { return i.claims(nonce, nil, false) }

// reauth reports whether an authorization request makes the person sign in
// again (OIDC Core §3.1.2.1): prompt=login, or a max_age the session exceeds.
func reauth(q url.Values) bool {
	for _, p := range strings.Fields(q.Get("prompt")) {
		if p == "login" {
			return true
		}
	}
	if m := q.Get("max_age"); m != "" {
		n, err := strconv.ParseInt(m, 10, 64)
		return err == nil && time.Duration(n)*time.Second < sessionAge
	}
	return false
}

func (i *OIDCIssuer) claims(nonce string, user map[string]any, fresh bool) map[string]any {
	now := i.opts.Now()
	authTime := now.Add(-sessionAge)
	if fresh {
		authTime = now
	}
	c := map[string]any{
		"iss": i.URL(), "aud": i.opts.ClientID, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"auth_time": authTime.Unix(),
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if user == nil {
		user = i.opts.Claims
	}
	for k, v := range user {
		c[k] = v
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	for k, v := range i.knobs.Claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// IDToken mints an ID token for nonce (at_hash omitted if accessToken is
// empty), with the knobs applied.
func (i *OIDCIssuer) IDToken(nonce, accessToken string) string {
	return i.idToken(nonce, accessToken, nil, false)
}

func (i *OIDCIssuer) idToken(nonce, accessToken string, user map[string]any, fresh bool) string {
	claims := i.claims(nonce, user, fresh)
	i.mu.Lock()
	k := i.knobs
	key := i.keys[0]
	i.mu.Unlock()
	if k.Key != nil {
		key = k.Key
	}
	if accessToken != "" && key.Alg == jose.RS256 {
		if _, set := claims["at_hash"]; !set {
			sum := sha256.Sum256([]byte(accessToken))
			claims["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:16])
		}
	}
	if k.Sign != nil {
		return k.Sign(claims)
	}
	return SignJWT(key, !k.OmitKID, k.Header, claims)
}

// SignJWT signs claims with key as a compact JWS.
func SignJWT(key *SigningKey, withKID bool, header map[string]any, claims map[string]any) string {
	var sk any = key.Signer
	if withKID {
		sk = jose.JSONWebKey{Key: key.Signer, KeyID: key.KID}
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range header {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	return sign(jose.SigningKey{Algorithm: key.Alg, Key: sk}, opts, claims)
}

// SignHS256 signs claims with HMAC-SHA256 keyed by secret (e.g. the issuer's
// public key bytes: the alg-confusion attack).
func SignHS256(secret []byte, kid string, claims map[string]any) string {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	return sign(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, opts, claims)
}

// SignNone returns an unsigned JWT with alg "none" and an empty signature.
func SignNone(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

func sign(key jose.SigningKey, opts *jose.SignerOptions, claims map[string]any) string {
	s, err := jose.NewSigner(key, opts)
	if err != nil {
		panic(fmt.Sprintf("providertest: signer: %v", err))
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		panic(fmt.Sprintf("providertest: sign: %v", err))
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return out
}

func (i *OIDCIssuer) userinfo(w http.ResponseWriter, r *http.Request) {
	c := map[string]any{}
	for k, v := range i.opts.Claims {
		c[k] = v
	}
	i.mu.Lock()
	for k, v := range i.knobs.UserinfoClaims {
		c[k] = v
	}
	i.mu.Unlock()
	writeJSON(w, 200, c)
}

// logout is RP-initiated logout: it redirects to post_logout_redirect_uri with
// the state, as OpenID Connect RP-Initiated Logout 1.0 §3 describes.
func (i *OIDCIssuer) logout(w http.ResponseWriter, r *http.Request) {
	i.LogoutHits.Add(1)
	q := r.URL.Query()
	back, err := url.Parse(q.Get("post_logout_redirect_uri"))
	if err != nil || !back.IsAbs() {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("signed out\n"))
		return
	}
	v := back.Query()
	if st := q.Get("state"); st != "" {
		v.Set("state", st)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}
