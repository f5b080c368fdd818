// Package admin is the admin console (/admin/…, server-rendered pages) and the
// admin API (/api/admin/v1/…, JSON): who an admin is, the frame every admin page
// and API call stands in (ADM-01, ADM-05), and the resources they manage, each
// change made through broker/operations with the admin as its actor (ADM-16).
package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/dpop"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
)

// Scope is the scope of the built-in Admin API that admin API calls need.
const Scope = "gatehouse:admin"

// APIID is the built-in Admin API's ID (EnsureAdminAPI).
const APIID = "gatehouse-admin"

// ConsolePrefix is where the console lives; a sign-in that returns below it
// must be a fresh one (NeedsFreshSignIn).
const ConsolePrefix = "/admin"

// Options are the Server's dependencies.
type Options struct {
	Web *web.Core
	// Ops makes every change (with its audit event and cut-off).
	Ops *operations.Service
	// Verifier checks the admin API's bearer tokens.
	Verifier *token.Verifier
	Now      func() time.Time
	// ForgetClient, if set, drops a client from this process's client cache
	// after the console or the API changed it (registry.Cache.ForgetClient).
	ForgetClient func(id string)
	// TestSignIn, if set, runs the console's test sign-ins (package signin).
	TestSignIn web.TestSignIn
}

// Server serves the admin console and the admin API.
type Server struct {
	web      *web.Core
	ops      *operations.Service
	verifier *token.Verifier
	Now      func() time.Time
	// forgetClient: Options.ForgetClient, never nil.
	forgetClient func(id string)
	// tester: Options.TestSignIn.
	tester web.TestSignIn
	// audience is the built-in Admin API's (<issuer>/api/admin/v1).
	audience string
	// dpopGuard checks the proofs of DPoP-bound tokens (RFC 9449 §7).
	dpopGuard *dpop.Guard
}

// New builds the admin Server.
func New(o Options) (*Server, error) {
	if o.Web == nil || o.Ops == nil || o.Verifier == nil || o.Now == nil {
		return nil, errors.New("admin: Web, Ops, Verifier and Now are required")
	}
	forget := o.ForgetClient
	if forget == nil {
		forget = func(string) {}
	}
	guard, err := o.Web.DPoPGuard()
	if err != nil {
		return nil, err
	}
	return &Server{web: o.Web, ops: o.Ops, verifier: o.Verifier, Now: o.Now, forgetClient: forget, tester: o.TestSignIn,
		audience: o.Web.Config.Issuer.JoinPath("/api/admin/v1").String(), dpopGuard: guard}, nil
}

// Audience is the built-in Admin API's audience.
func (a *Server) Audience() string { return a.audience }

// EnsureAdminAPI registers the built-in Admin API if it is absent: audience
// <issuer>/api/admin/v1, scope gatehouse:admin for users with the admin role,
// so that an admin's own token (authorization code) or a client given the
// scope (client_credentials) can call the admin API.
func (a *Server) EnsureAdminAPI(ctx context.Context) error {
	startup := operations.Actor{Name: "gatehouse", Via: "startup"}
	cur, err := a.ops.GetAPI(ctx, APIID)
	if err == nil && cur.Audience != a.audience {
		// The issuer moved: the Admin API moves with it.
		cur.Audience = a.audience
		if _, err = a.ops.UpdateAPI(ctx, startup, cur); errors.Is(err, operations.ErrConflict) {
			return nil // another replica moved it meanwhile
		}
		return err
	}
	if err == nil || !errors.Is(err, operations.ErrNotFound) {
		return err
	}
	_, err = a.ops.CreateAPI(ctx, startup, store.API{ID: APIID,
		Audience: a.audience, Name: "Gatehouse Admin API",
		Scopes: []store.Scope{{Name: Scope, Description: "Administer Gatehouse: identity providers, apps, APIs and people",
			Roles: []string{store.RoleAdmin}}}})
	if errors.Is(err, operations.ErrConflict) {
		return nil // another replica registered it meanwhile
	}
	return err
}

// NeedsFreshSignIn reports whether a sign-in returning to returnTo must be a
// fresh one at the provider (prompt=login, ForceAuthn): the console's (ADM-05).
func NeedsFreshSignIn(returnTo string) bool {
	return returnTo == ConsolePrefix || strings.HasPrefix(returnTo, ConsolePrefix+"/") || strings.HasPrefix(returnTo, ConsolePrefix+"?")
}

// person is the admin a console request or an API call is made by.
type person struct {
	User  store.User
	Actor operations.Actor
	Name  string // shown on the pages
}

// isAdmin: the admin role among the session's (from the provider's role rules
// at sign-in) or granted (store.Roles).
func (a *Server) isAdmin(ctx context.Context, sess store.Session) (bool, error) {
	roles, err := a.web.Roles(ctx, sess)
	return slices.Contains(roles, store.RoleAdmin), err
}

var errForbidden = &web.UserError{Status: http.StatusForbidden, Title: "Not allowed",
	Message: "This part of Gatehouse is for its administrators.",
	Next:    "If you should be one, ask an administrator to grant you the admin role."}

// consoleHandler is a console handler: it runs for an admin only.
type consoleHandler func(w http.ResponseWriter, r *http.Request, p person) error

// console lets h run for a signed-in admin whose sign-in is fresh (ADM-05);
// anyone not signed in is sent to sign in, a stale admin to sign in again at
// their provider (a fresh sign-in: NeedsFreshSignIn), and anyone else is
// refused (403). A form (POST) is checked for its CSRF token after that
// (WEB-03), and the browser returns to the console's home, not to the POST.
func (a *Server) console(w http.ResponseWriter, r *http.Request, h consoleHandler) error {
	returnTo := r.URL.RequestURI()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		returnTo = ConsolePrefix
	}
	sess, u, ok := a.web.CurrentSession(r)
	if !ok {
		http.Redirect(w, r, web.LoginURL(returnTo), http.StatusSeeOther)
		return nil
	}
	admin, err := a.isAdmin(r.Context(), sess)
	if err != nil {
		return err
	}
	if !admin {
		return errForbidden
	}
	if !a.fresh(sess) {
		http.Redirect(w, r, web.LoginURL(returnTo), http.StatusSeeOther)
		return nil
	}
	if r.Method == http.MethodPost {
		if err := a.web.CheckCSRF(r); err != nil {
			return err
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	return h(w, r, person{User: u, Actor: operations.Actor{Name: actorName(u), Via: "console"}, Name: web.DisplayName(u)})
}

// fresh: the session's sign-in is no older than GATEHOUSE_ADMIN_MAX_AGE.
func (a *Server) fresh(sess store.Session) bool {
	return !sess.AuthTime.IsZero() && a.Now().Sub(sess.AuthTime) <= a.web.Config.AdminMaxAge
}

// actorName is how the audit log names an admin: their user ID, stable
// whatever email they sign in with next.
func actorName(u store.User) string { return u.ID }
