// Package rs is the verifier an API behind Gatehouse imports: net/http middleware
// that accepts a request only with a valid Gatehouse access token (the RFC 9068
// JWT profile), the proof of possession its cnf claim asks for (RFC 9449 DPoP or
// an RFC 8705 certificate) and the scopes the route needs, and answers everything
// else with the RFC 6750 / RFC 9449 WWW-Authenticate challenge. It is a library
// for resource servers: Gatehouse itself never imports it.
package rs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Config is what a Verifier checks against. Issuer and Audience are required.
type Config struct {
	// Issuer is Gatehouse's issuer URL, compared byte for byte with iss (RFC 9068
	// §4 step 3) and used for discovery when JWKSURL is empty.
	Issuer string
	// Audience is this API's audience (its resource indicator): aud must contain
	// it (RFC 9068 §4 step 4).
	Audience string
	// JWKSURL overrides the jwks_uri found by discovery.
	JWKSURL string
	// HTTPClient fetches discovery and the JWKS; nil → a client with FetchTimeout.
	HTTPClient *http.Client
	// Algorithms are the JWS algorithms accepted for access tokens; nil → every
	// asymmetric algorithm (DefaultAlgorithms). none and HS* are refused here
	// (RFC 8725 §3.1): a public key is never an HMAC secret.
	Algorithms []string
	// Leeway is the clock skew allowed on exp, nbf and iat; 0 → 30 s.
	Leeway time.Duration
	// FetchTimeout bounds each discovery or JWKS fetch; 0 → 10 s.
	FetchTimeout time.Duration
	// RefreshInterval is the least time between two JWKS fetches: an unknown kid
	// (a key rotated in, or a forged one) refetches at most this often, so a
	// burst of forged tokens cannot hammer Gatehouse. 0 → 30 s.
	RefreshInterval time.Duration
	// MaxKeyAge is how long a fetched JWKS is used before it is fetched again,
	// so that a key Gatehouse revoked stops verifying; 0 → 10 min.
	MaxKeyAge time.Duration
	// TrustedProxies are the TLS-terminating proxies whose RFC 9440 Client-Cert
	// header carries the client certificate (RFC 8705 bound tokens), and whose
	// X-Forwarded-Proto and X-Forwarded-Host name the URL a DPoP proof signs.
	// A request from any other address is taken as it arrives.
	TrustedProxies []netip.Prefix
	// DPoPWindow is how far a DPoP proof's iat may be from now, either way
	// (RFC 9449 §11.1); 0 → 60 s.
	DPoPWindow time.Duration
	// DPoPAlgorithms are the JWS algorithms accepted for DPoP proofs, advertised
	// in the algs challenge parameter (RFC 9449 §7.1); nil → dpop.SupportedAlgs.
	DPoPAlgorithms []string
	// Replay records the jti of every accepted DPoP proof (RFC 9449 §11.1); nil
	// → an in-memory cache of this process. Replicas of one API share one (for
	// example in their database) so that a proof is usable once across them.
	Replay ReplayCache
	// RequestURL is the URL of r as the client addressed it (the DPoP htu); nil →
	// from r.TLS, r.Host and r.URL, or the X-Forwarded-Proto and X-Forwarded-Host
	// of a trusted proxy.
	RequestURL func(r *http.Request) string
	// Now is the clock; nil → time.Now.
	Now func() time.Time
}

// DefaultAlgorithms are the asymmetric JWS algorithms accepted by default.
var DefaultAlgorithms = []string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// Verifier checks access tokens for one API. It is safe for concurrent use.
type Verifier struct {
	cfg  Config
	keys *keyCache
}

// New validates cfg, finds the JWKS (discovery at the issuer unless JWKSURL is
// set, RFC 8414 §3) and fetches it once.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	kc := &keyCache{client: cfg.HTTPClient, timeout: cfg.FetchTimeout, minGap: cfg.RefreshInterval,
		maxAge: cfg.MaxKeyAge, now: cfg.Now, url: cfg.JWKSURL}
	if kc.url == "" {
		u, err := discover(ctx, cfg.HTTPClient, cfg.FetchTimeout, cfg.Issuer)
		if err != nil {
			return nil, err
		}
		kc.url = u
	}
	if err := checkURL(kc.url); err != nil {
		return nil, fmt.Errorf("rs: jwks_uri: %w", err)
	}
	if err := kc.refresh(ctx); err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg, keys: kc}, nil
}

func (c *Config) defaults() error {
	var errs []error
	if err := checkURL(c.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("rs: Issuer: %w", err))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("rs: Audience is required"))
	}
	if c.Algorithms == nil {
		c.Algorithms = DefaultAlgorithms
	}
	for _, a := range c.Algorithms {
		if !slices.Contains(DefaultAlgorithms, a) {
			errs = append(errs, fmt.Errorf("rs: algorithm %q is not an asymmetric JWS algorithm", a))
		}
	}
	if c.DPoPAlgorithms == nil {
		c.DPoPAlgorithms = dpopDefaultAlgs()
	}
	for _, a := range c.DPoPAlgorithms {
		if !slices.Contains(DefaultAlgorithms, a) {
			errs = append(errs, fmt.Errorf("rs: DPoP algorithm %q is not an asymmetric JWS algorithm", a))
		}
	}
	c.Leeway = cmpOr(c.Leeway, 30*time.Second)
	c.FetchTimeout = cmpOr(c.FetchTimeout, 10*time.Second)
	c.RefreshInterval = cmpOr(c.RefreshInterval, 30*time.Second)
	c.MaxKeyAge = cmpOr(c.MaxKeyAge, 10*time.Minute)
	c.DPoPWindow = cmpOr(c.DPoPWindow, time.Minute)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.FetchTimeout}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Replay == nil {
		c.Replay = NewMemoryReplayCache(0)
	}
	if c.RequestURL == nil {
		c.RequestURL = requestURL(c.TrustedProxies)
	}
	return errors.Join(errs...)
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// checkURL accepts https URLs, and http ones only on a loopback host (a
// development setup): keys fetched over plain http could be anyone's.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	if u.Scheme == "https" {
		return nil
	}
	h := u.Hostname()
	if ip, err := netip.ParseAddr(h); u.Scheme == "http" && (h == "localhost" || err == nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%q is not https", s)
}

// Require is middleware that lets a request through only with a valid token
// carrying every one of scopes (RFC 6750 §3.1 insufficient_scope otherwise); the
// handler finds the token with TokenFrom.
func (v *Verifier) Require(scopes ...string) func(http.Handler) http.Handler {
	scopes = slices.Clone(scopes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, err := v.Authenticate(r)
			if err != nil {
				v.WriteError(w, err)
				return
			}
			for _, s := range scopes {
				if !slices.Contains(tok.Scopes, s) {
					v.WriteError(w, &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Scheme: tok.Scheme,
						Description: "the token lacks a scope this resource requires", Scope: strings.Join(scopes, " ")})
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
		})
	}
}

type tokenKey struct{}

// TokenFrom returns the token Require accepted for the request of ctx, nil
// outside Require.
func TokenFrom(ctx context.Context) *Token {
	t, _ := ctx.Value(tokenKey{}).(*Token)
	return t
}
