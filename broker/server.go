// Package broker is Gatehouse's wiring: configuration in, the one route table
// (routes.go), the middleware order, start, stop and maintenance; the flows
// themselves live in the capability packages below it (signin, oauth).
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/broker/accounts"
	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/delegation"
	"github.com/gatehouse/gatehouse/broker/exchange"
	"github.com/gatehouse/gatehouse/broker/oauth"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/passkeys"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/signin"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers/safehttp"
	"github.com/gatehouse/gatehouse/templates"
)

// KeySet is what the server needs of the signing-key manager: what the OAuth
// server needs of it, and the maintenance pass.
type KeySet interface {
	oauth.KeySet
	// Maintain promotes a published next key and drops expired retired keys.
	Maintain(ctx context.Context) error
}

// Options are the Server's dependencies; every one is explicit.
type Options struct {
	Config *config.Config
	Store  store.Store
	Keys   KeySet
	Audit  *audit.Writer
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests inject a fixed one.
	Now func() time.Time
	// Registry receives the metrics; nil means a new registry with the Go runtime
	// and process collectors.
	Registry *prometheus.Registry
	// HTTPClient makes the calls to admin-supplied URLs: upstream providers and
	// clients' JWKS URIs. nil means the SSRF-guarded production client
	// (providers/safehttp); for upstreams it allows the networks of
	// GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS, which also decide which provider URLs
	// are accepted.
	HTTPClient *http.Client
	// ProviderCheckEvery is how often provider versions are re-read; 0 means
	// upstream.DefaultCheckEvery.
	ProviderCheckEvery time.Duration
	// Demo, set by `gatehouse demo` only, makes the start page say what the
	// demo is and who to sign in as.
	Demo *templates.DemoIntro
}

// Server is Gatehouse's HTTP server. It is an http.Handler.
type Server struct {
	cfg   *config.Config
	store store.Store
	keys  KeySet
	audit *audit.Writer
	log   *slog.Logger
	Now   func() time.Time
	web   *web.Core // the plumbing capabilities share; cfg, store, audit and log are its own too

	upstreams *upstream.Registry
	demo      *templates.DemoIntro // Options.Demo

	// The capabilities, each a package of its own; what one needs of the
	// other is an interface of broker/web, satisfied here.
	signin     *signin.Server     // federated sign-in
	oauth      *oauth.Server      // the OAuth 2.0 / OpenID Connect server
	exchange   *exchange.Server   // token exchange (RFC 8693), behind the OAuth token endpoint
	delegation *delegation.Server // the delegated-access pages (issue 11)
	admin      *admin.Server      // the admin console and the admin API
	passkeys   *passkeys.Server   // security keys and passkeys, step-up (issue 15)
	// delegations are the delegation rules the capabilities share; the
	// maintenance pass ends expired delegations through them.
	delegations *delegate.Service

	mux       *http.ServeMux
	unmatched http.Handler
	forms     []string // form route patterns, so tests can hold each to POST-only
	patterns  []string // every route pattern (Routes)
	handler   http.Handler
}

// New builds a Server from its dependencies.
func New(o Options) (*Server, error) {
	if o.Config == nil || o.Store == nil || o.Keys == nil || o.Audit == nil || o.Logger == nil {
		return nil, errors.New("broker: Config, Store, Keys, Audit and Logger are required")
	}
	s := &Server{
		cfg:   o.Config,
		store: o.Store,
		keys:  o.Keys,
		audit: o.Audit,
		log:   o.Logger,
		Now:   o.Now,
		mux:   http.NewServeMux(),
		demo:  o.Demo,
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	httpClient := o.HTTPClient
	if httpClient == nil {
		httpClient = safehttp.NewClient(safehttp.Options{Timeout: 5 * time.Second, MaxBodyBytes: 256 << 10})
	}
	// web and every capability read s.Now on every call, so a clock set after
	// New (tests) reaches the middleware and the handlers alike.
	now := func() time.Time { return s.Now() }
	var err error
	if s.web, err = web.NewCore(web.Options{Config: o.Config, Store: o.Store, Audit: o.Audit, Log: o.Logger,
		Now: now, Registry: o.Registry}); err != nil {
		return nil, err
	}
	ring, err := seal.NewKeyring(o.Config.MasterKeys...)
	if err != nil {
		return nil, err
	}
	s.upstreams = upstream.NewRegistry(o.Store.Providers(), upstream.Env{
		Issuer: o.Config.Issuer, Keyring: ring, HTTPClient: o.HTTPClient,
		Networks: o.Config.UpstreamAllowedNetworks, Now: s.Now,
	}, o.ProviderCheckEvery, o.Logger)
	clients := registry.NewCache(o.Store, s.Now)
	// The one check of Gatehouse access tokens presented to Gatehouse, for the
	// OAuth server and token exchange alike.
	verifier := &token.Verifier{Keys: o.Keys, Store: o.Store, Issuer: o.Config.Issuer.String(), Now: now}
	// One set of delegation rules for the token issuers and the delegation
	// pages, so a delegation's last-use throttle is shared (issue 11).
	delegations := &delegate.Service{Store: o.Store, Audit: o.Audit, Now: now, AccessTokenTTL: o.Config.AccessTokenTTL, Log: o.Logger}
	s.delegations = delegations
	if s.exchange, err = exchange.New(exchange.Options{Web: s.web, Keys: o.Keys, Registry: clients, Upstreams: s.upstreams,
		Accounts: &accounts.Resolver{Store: o.Store, Audit: o.Audit, Log: o.Logger, Now: now}, Verifier: verifier, Now: now,
		Delegations: delegations}); err != nil {
		return nil, err
	}
	// Each capability needs the other: sign-in reaches the OAuth server
	// through web.Authorizations, the OAuth server reaches sign-in through
	// web.SignOut (signOut below, as sign-in is built second).
	if s.oauth, err = oauth.New(oauth.Options{Web: s.web, Keys: o.Keys, Ring: ring, Registry: clients,
		Upstreams: s.upstreams, SignOut: signOut{s}, HTTPClient: httpClient, Now: now, Verifier: verifier,
		Exchange: s.exchange, Delegations: delegations}); err != nil {
		return nil, err
	}
	ops := &operations.Service{Store: o.Store, Upstream: s.upstreams.Env(), Audit: o.Audit, Delegations: delegations,
		AccessTokenTTL: o.Config.AccessTokenTTL, SigningAlgorithm: o.Config.SigningAlgorithm, Now: now}
	if s.signin, err = signin.New(signin.Options{Web: s.web, Ring: ring, Upstreams: s.upstreams,
		Authorizations: consoleDemands{s.oauth}, Delegations: delegations, Now: now, Tests: ops}); err != nil {
		return nil, err
	}
	if s.passkeys, err = passkeys.New(passkeys.Options{Web: s.web, Now: now}); err != nil {
		return nil, err
	}
	if s.delegation, err = delegation.New(delegation.Options{Web: s.web, Now: now, Delegate: delegations}); err != nil {
		return nil, err
	}
	if s.admin, err = admin.New(admin.Options{Web: s.web, Ops: ops, Verifier: verifier, Now: now,
		ForgetClient: clients.ForgetClient, TestSignIn: s.signin}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.admin.EnsureAdminAPI(ctx); err != nil {
		return nil, fmt.Errorf("broker: registering the Admin API: %w", err)
	}
	s.routes()
	s.handler = s.web.WithRequestInfo(withRequestTimeout(o.Config.RequestTimeout,
		s.web.WithAccessLog(s.web.WithRecovery(s.web.WithSecurityHeaders(http.HandlerFunc(s.dispatch))))))
	return s, nil
}

// withRequestTimeout gives every request a deadline (GATEHOUSE_REQUEST_TIMEOUT). A
// database that hangs rather than refuses answers nothing and closes nothing: without
// a deadline each request would wait on it, or on a pooled connection it holds, until
// it thaws. With one the wait ends, and the error handlers answer 503 when the
// database does not answer a ping (web.Core.DatabaseReachable), as when it is down.
// 0 sets no deadline.
func withRequestTimeout(d time.Duration, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Upstreams is the provider registry (the demo and tests register providers
// through the store and call Invalidate).
func (s *Server) Upstreams() *upstream.Registry { return s.upstreams }

// SignIn, OAuth and Web are the capabilities and the web layer this Server
// wired, for the end-to-end tests in internal/testsupport/brokertest and the
// capabilities' own packages (which cannot reach into broker).
func (s *Server) SignIn() *signin.Server { return s.signin }

// OAuth is the OAuth 2.0 / OpenID Connect server this Server wired.
func (s *Server) OAuth() *oauth.Server { return s.oauth }

// Web is the web layer this Server's capabilities share.
func (s *Server) Web() *web.Core { return s.web }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// dispatch hands the request to the route table. The standard mux would answer
// unknown paths and wrong methods in plain text; handleUnmatched answers with the
// styled pages instead, keeping the 404/405 distinction and the Allow header.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	s.unmatched.ServeHTTP(w, r)
}

// handleUnmatched renders 405 (with Allow) when the path exists for another method,
// 404 otherwise.
func (s *Server) handleUnmatched(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" && m != r.Method {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return web.ErrMethodNotAllowed
	}
	return web.ErrNotFound
}

// consoleDemands adds the admin console's demand to those of the OAuth
// server's pending requests: a sign-in that returns to the console is a fresh
// one at the provider (SECURITY.md ADM-05; prompt=login, ForceAuthn).
type consoleDemands struct{ *oauth.Server }

func (d consoleDemands) SignInDemands(returnTo string) (web.SignInDemands, bool) {
	if admin.NeedsFreshSignIn(returnTo) {
		return web.SignInDemands{Fresh: true, ForceLogin: true}, true
	}
	return d.Server.SignInDemands(returnTo)
}

// signOut is sign-in's side of web.SignOut for the OAuth server, which is built
// before sign-in.
type signOut struct{ s *Server }

func (o signOut) UpstreamLogout(w http.ResponseWriter, r *http.Request, sess store.Session, app *web.AppReturn) (bool, error) {
	return o.s.signin.UpstreamLogout(w, r, sess, app)
}

func (o signOut) RenderSignedOut(w http.ResponseWriter, r *http.Request, note string) error {
	return o.s.signin.RenderSignedOut(w, r, note)
}

// Admin is the admin console and API this Server wired.
func (s *Server) Admin() *admin.Server { return s.admin }
