// Package oauth is Gatehouse as an OAuth 2.0 / OpenID Connect server: authorize,
// consent, token, client authentication, introspection, revocation, userinfo,
// discovery, JWKS and RP-initiated logout.
package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/dpop"
	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/ratelimit"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
)

// KeySet is what the OAuth server needs of the signing-key manager.
type KeySet interface {
	// JWKS returns the published public keys (next, active and retired) as a JWK Set document.
	JWKS(ctx context.Context) ([]byte, error)
	// Signer returns the signer of the active key.
	Signer(ctx context.Context) (*keys.Signer, error)
	// SignerFor returns the signer of the active key of an ID-token algorithm.
	SignerFor(ctx context.Context, alg string) (*keys.Signer, error)
	// IDTokenAlgorithms are the algorithms SignerFor has keys of, RS256 first.
	IDTokenAlgorithms() []string
	// Verify checks a JWT Gatehouse signed, with the expected typ, into dst.
	Verify(ctx context.Context, token, typ string, dst any) error
	// VerifyKey is Verify that also returns the kid of the key that signed it.
	VerifyKey(ctx context.Context, token, typ string, dst any) (string, error)
	// KeyIDs, Refresh and JWKSWithout let the JWKS handler drop at once a key
	// another replica revoked (SECURITY.md AS-JWT-10).
	KeyIDs(ctx context.Context) ([]string, error)
	Refresh(ctx context.Context) error
	JWKSWithout(ctx context.Context, kids []string) ([]byte, error)
}

// FormOrigins lists the origins of the enabled upstream providers, which a page
// that may go on to a provider's logout must allow as form targets.
type FormOrigins interface {
	FormOrigins(ctx context.Context) []string
}

// Options are the OAuth server's dependencies; every one is explicit.
type Options struct {
	Web      *web.Core
	Keys     KeySet
	Ring     *seal.Keyring
	Registry *registry.Cache
	// Upstreams gives the providers' form origins (RP-initiated logout pages).
	Upstreams FormOrigins
	// SignOut is sign-in's upstream logout and signed-out page.
	SignOut web.SignOut
	// HTTPClient fetches clients' JWKS URIs (SSRF-guarded).
	HTTPClient *http.Client
	// Now is the clock.
	Now func() time.Time
	// Verifier is the one check of Gatehouse access tokens presented to Gatehouse.
	Verifier *token.Verifier
	// Exchange serves the token-exchange grant (RFC 8693); nil leaves it unsupported.
	Exchange web.TokenExchange
	// Delegations applies the delegation rules (acting for someone, issue 11);
	// nil builds one over Web's store and audit writer.
	Delegations *delegate.Service
}

// Server serves the OAuth 2.0 / OpenID Connect endpoints; broker's route table
// registers its handlers.
type Server struct {
	cfg   *config.Config
	store store.Store
	keys  KeySet
	audit *audit.Writer
	log   *slog.Logger
	Now   func() time.Time
	web   *web.Core
	ring  *seal.Keyring

	upstreams FormOrigins
	signOut   web.SignOut
	discovery []byte // the discovery document without API scopes
	// discoveryAPIs is the discovery document with the registered APIs' scopes.
	discoveryAPIs discoveryCache

	registry *registry.Cache
	// consentTouches throttles the "last used" writes of refresh-token use.
	consentTouches *ratelimit.Keyed
	ipLimit        *ratelimit.Keyed
	clientLimit    *ratelimit.Keyed
	jwksCache      jwksCache
	httpClient     *http.Client
	verifier       *token.Verifier
	exchange       web.TokenExchange
	delegations    *delegate.Service
	// dpopGuard checks DPoP proofs at the token endpoint and UserInfo (RFC 9449).
	dpopGuard *dpop.Guard
}

// New builds the OAuth server from its dependencies.
func New(o Options) (*Server, error) {
	if o.Web == nil || o.Keys == nil || o.Ring == nil || o.Registry == nil || o.Upstreams == nil || o.SignOut == nil ||
		o.HTTPClient == nil || o.Now == nil || o.Verifier == nil {
		return nil, errors.New("oauth: every option is required")
	}
	s := &Server{
		cfg: o.Web.Config, store: o.Web.Store, keys: o.Keys, audit: o.Web.Audit, log: o.Web.Log, Now: o.Now,
		web: o.Web, ring: o.Ring, upstreams: o.Upstreams, signOut: o.SignOut, registry: o.Registry, httpClient: o.HTTPClient,
		verifier: o.Verifier, exchange: o.Exchange, delegations: o.Delegations,
	}
	if s.delegations == nil {
		s.delegations = &delegate.Service{Store: s.store, Audit: s.audit, Now: s.Now, AccessTokenTTL: s.cfg.AccessTokenTTL, Log: s.log}
	}
	s.ipLimit = ratelimit.PerSecond(s.cfg.OAuthRatePerIP, s.Now)
	s.clientLimit = ratelimit.PerSecond(s.cfg.OAuthRatePerClient, s.Now)
	s.consentTouches = ratelimit.New(rate.Every(consentTouchEvery), 1, s.Now)
	var err error
	if s.dpopGuard, err = s.web.DPoPGuard(); err != nil {
		return nil, err
	}
	if s.discovery, err = s.discoveryDocument(); err != nil {
		return nil, err
	}
	return s, nil
}

// allowUpstreamForms widens form-action to every enabled provider's origins.
func (s *Server) allowUpstreamForms(w http.ResponseWriter, r *http.Request) {
	web.SetFormAction(w, s.upstreams.FormOrigins(r.Context())...)
}
