// Package signin is Gatehouse's federated sign-in: login and home-realm
// discovery, callback/ACS, IdP-initiated sign-in, account linking and the link
// choice, the account page's identities and sessions, sign-out and upstream
// logout, SAML metadata and SLO.
package signin

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/gatehouse/gatehouse/broker/accounts"
	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
)

// defaultMaxSessionsPerUser caps one user's sessions; a new sign-in beyond it
// ends the oldest (DOS-12). Far above what a person uses.
const defaultMaxSessionsPerUser = 50

// Options are sign-in's dependencies; every one is explicit.
type Options struct {
	Web       *web.Core
	Ring      *seal.Keyring
	Upstreams *upstream.Registry
	// Authorizations is what sign-in needs of the OAuth server: the demands of
	// a pending authorization request, its refusal, connected apps.
	Authorizations web.Authorizations
	// Delegations re-checks what a person gave after they sign in: their
	// claims, hence their roles, may have changed (issue 11).
	Delegations *delegate.Service
	// Now is the clock.
	Now func() time.Time
	// Tests records how each admin's test sign-in ended (operations.Service).
	Tests ProviderTests
}

// Server serves the sign-in pages and the upstream providers' endpoints;
// broker's route table registers its handlers.
type Server struct {
	cfg   *config.Config
	store store.Store
	audit *audit.Writer
	log   *slog.Logger
	Now   func() time.Time
	web   *web.Core
	flows []securecookie.Codec
	ring  *seal.Keyring
	authz web.Authorizations
	rules *delegate.Service
	tests ProviderTests

	upstreams *upstream.Registry
	accounts  *accounts.Resolver
	limits    loginLimits
	// MaxSessionsPerUser caps a user's sessions (DOS-12); tests lower it.
	MaxSessionsPerUser int
}

// New builds sign-in from its dependencies.
func New(o Options) (*Server, error) {
	if o.Web == nil || o.Ring == nil || o.Upstreams == nil || o.Authorizations == nil || o.Delegations == nil || o.Now == nil || o.Tests == nil {
		return nil, errors.New("signin: every option is required")
	}
	s := &Server{cfg: o.Web.Config, store: o.Web.Store, audit: o.Web.Audit, log: o.Web.Log, Now: o.Now, web: o.Web,
		ring: o.Ring, authz: o.Authorizations, rules: o.Delegations, tests: o.Tests, upstreams: o.Upstreams, MaxSessionsPerUser: defaultMaxSessionsPerUser}
	// The resolver reads s.Now on every call, like the handlers.
	s.accounts = &accounts.Resolver{Store: s.store, Audit: s.audit, Log: s.log, Now: func() time.Time { return s.Now() }}
	var err error
	if s.flows, err = newFlowCodecs(s.cfg); err != nil {
		return nil, err
	}
	s.limits = newLoginLimits(s.Now)
	return s, nil
}

// ResetLimits forgets the per-address sign-in rate limits: a benchmark signs in
// thousands of times from one address.
func (s *Server) ResetLimits() { s.limits = newLoginLimits(s.Now) }

// allowUpstreamForms widens form-action to every enabled provider's origins.
func (s *Server) allowUpstreamForms(w http.ResponseWriter, r *http.Request) {
	web.SetFormAction(w, s.upstreams.FormOrigins(r.Context())...)
}
