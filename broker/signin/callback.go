package signin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/broker/accounts"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
)

// ACSBodyLimit caps a SAML POST to the ACS before anything is decoded (SAML-44).
const ACSBodyLimit = 256 << 10

// HandleCallback is the OIDC redirect back from the provider.
func (s *Server) HandleCallback(w http.ResponseWriter, r *http.Request) error {
	return s.completeFlow(w, r, false)
}

// HandleACS is the SAML assertion consumer service (HTTP-POST binding).
func (s *Server) HandleACS(w http.ResponseWriter, r *http.Request) error {
	return s.completeFlow(w, r, true)
}

// completeFlow finishes a sign-in or a link: the browser must hold the flow this
// provider started (WEB-05: a response pushed into another browser finds none),
// the flow is used once across every replica (OIDC-01), the provider verifies the
// response, and only then is anything stored. The flow's and the response's
// replay keys are recorded with what the response leads to: with the session
// for a sign-in, before anything else otherwise.
func (s *Server) completeFlow(w http.ResponseWriter, r *http.Request, saml bool) error {
	if err := s.rateLimit(s.limits.callback, r); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("provider")
	f, err := s.takeFlow(w, r, saml)
	if err != nil {
		if saml && errors.Is(err, errNoFlow) {
			if b, berr := s.provider(r); berr == nil && b.IdPInitiated {
				return s.acceptUnsolicited(w, r, b)
			}
		}
		return s.refuse(r, id, "no_pending_flow", err)
	}
	if f.Provider != id || (f.Purpose != flowLogin && f.Purpose != flowLink && f.Purpose != flowTest) {
		// A response at another provider's endpoint than the flow was started
		// for: the mix-up attack (RFC 9700 §4.4, SAML-21).
		return s.refuse(r, id, "flow_for_other_provider", fmt.Errorf("flow for %q (%s) completed at %q", f.Provider, f.Purpose, id))
	}
	if err := s.refuseSpentFlow(r, id, f); err != nil {
		return err
	}
	b, err := s.provider(r)
	if err != nil {
		return err
	}
	if f.Purpose != flowTest {
		// An admin tests a provider before enabling it.
		if err := s.refuseDisabledProvider(r, id, f); err != nil {
			return err
		}
	}
	ident, err := b.Provider.Complete(ctx, r, f.Pending)
	if f.Purpose == flowTest {
		// Same verification as a sign-in up to the Identity, then stop.
		return s.finishTest(w, r, b, f, ident, err)
	}
	if err != nil {
		return s.upstreamFailure(r, id, "signin.refused", err)
	}
	used := append([]store.ReplayKey{flowKey(f)}, replayKeys(ident.ReplayKeys)...)
	if ident.ProviderID != id || ident.Subject == "" {
		if err := s.spend(r, id, "signin.refused", used); err != nil {
			return err
		}
		return s.refuse(r, id, "identity_for_other_provider", fmt.Errorf("identity from %q", ident.ProviderID))
	}
	if f.Purpose == flowLink {
		if err := s.spend(r, id, "signin.refused", used); err != nil {
			return err
		}
		return s.completeLink(w, r, b, f, ident)
	}
	if reason := f.unmetBy(ident); reason != "" {
		if err := s.spend(r, id, "signin.refused", used); err != nil {
			return err
		}
		return s.authz.RefuseUnmet(w, r, f.ReturnTo, id, reason) // OIDC-25
	}
	if len(f.Link) > 0 {
		return s.completeProof(w, r, b, f, ident, used)
	}
	return s.signIn(w, r, b, ident, upstream.Roles(b.Common.RoleRules, ident), f.ReturnTo, used)
}

// signIn resolves the verified identity to its local user and starts a session
// with the roles the provider's rules gave, recording the used replay keys with
// it. A refused response is used up all the same. A first sign-in whose
// verified email belongs to an account the provider cannot vouch for goes to
// the person's choice instead (linkchoice.go).
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, b *upstream.Built, ident providers.Identity, roles []string, returnTo string, used []store.ReplayKey) error {
	u, login, err := s.accounts.Resolve(r.Context(), b.Config, ident)
	if errors.Is(err, accounts.ErrEmailTaken) {
		return s.offerLinkChoice(w, r, b, ident, roles, returnTo, used)
	}
	if err != nil {
		return err
	}
	return s.signInAs(w, r, b, u, ident, roles, login, returnTo, used)
}

// signInAs starts the session of user u, whose identity ident just signed in.
func (s *Server) signInAs(w http.ResponseWriter, r *http.Request, b *upstream.Built, u store.User, ident providers.Identity, roles []string, login store.Identity, returnTo string, used []store.ReplayKey) error {
	id := b.Config.ID
	if u.Disabled {
		if err := s.spend(r, id, "signin.refused", used); err != nil {
			return err
		}
		return s.refuse(r, id, "user_disabled", errors.New("user disabled"))
	}
	sess, err := s.startSession(w, r, u, ident, roles, login, used)
	if err != nil {
		return s.replayFailure(r, id, "signin.refused", errors.Is(err, store.ErrAlreadyUsed) && s.flowTaken(r, used), err)
	}
	http.SetCookie(w, &http.Cookie{Name: s.lastProviderCookie(), Value: id, Path: "/", MaxAge: 365 * 24 * 3600,
		Secure: s.secureCookies(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	s.audit.Enqueue(s.web.AuditEvent(r, u.ID, "signin.succeeded", id, map[string]any{"session": sess.ID, "roles": roles}))
	s.recheckDelegations(r, u.ID)
	http.Redirect(w, r, localReturnTo(returnTo, defaultReturnTo), http.StatusSeeOther)
	return nil
}

// recheckDelegations re-checks at once what userID gave (delegate.Service.Recheck):
// the sign-in just stored their identity's new claims, which may take a role,
// and with it a scope they delegated (issue 11: "Revocation is immediate"). Most
// people gave nothing, so an indexed existence check comes first. It never fails
// the sign-in: a failure is logged, and Usable still refuses at every issue what
// the grantor no longer holds.
func (s *Server) recheckDelegations(r *http.Request, userID string) {
	ctx := r.Context()
	given, err := s.store.Delegations().ListByGrantor(ctx, userID)
	if err == nil && len(given) > 0 {
		err = s.rules.Recheck(ctx, userID)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "sign-in: re-checking the delegations the user gave", "request_id", web.RequestID(ctx),
			"user", userID, "error", err.Error())
	}
}

// completeLink links the identity to the signed-in user who asked for it from
// the account page. The flow must belong to this very session (WEB-27), and the
// sign-in at the provider must be fresh.
func (s *Server) completeLink(w http.ResponseWriter, r *http.Request, b *upstream.Built, f flow, ident providers.Identity) error {
	ctx := r.Context()
	sess, u, ok := s.web.CurrentSession(r)
	if !ok || sess.ID != f.SessionID {
		return s.refuse(r, ident.ProviderID, "link_not_bound_to_session", errors.New("link flow of another session"))
	}
	now := s.Now()
	if !ident.AuthTime.IsZero() && now.Sub(ident.AuthTime) > web.FlowTTL+2*time.Minute {
		return s.refuse(r, ident.ProviderID, "link_without_fresh_signin", fmt.Errorf("auth_time %s", ident.AuthTime))
	}
	rec := accounts.IdentityRecord(ident, u.ID, now)
	existing, err := s.store.Identities().Get(ctx, ident.ProviderID, ident.Subject)
	switch {
	case err == nil && existing.UserID == u.ID:
		if err := s.store.Identities().RecordLogin(ctx, rec); err != nil {
			return err
		}
		s.recheckDelegations(r, u.ID)
	case err == nil:
		s.web.Record(r, u.ID, "identity.link_refused", ident.ProviderID, map[string]any{"reason": "linked_to_another_user"})
		return &web.UserError{Status: http.StatusConflict, Title: "Account already linked",
			Message: "That account at %s is already linked to another Gatehouse account.", MessageArgs: []any{b.Config.Name},
			Next: "Sign in with it to use that Gatehouse account, or ask your administrator."}
	case errors.Is(err, store.ErrNotFound):
		rec.LinkedAt = now
		if err := s.store.Identities().Link(ctx, rec); err != nil {
			return err
		}
		s.web.Record(r, u.ID, "identity.linked", ident.ProviderID, map[string]any{"by": "account_page", "subject": ident.Subject})
	default:
		return err
	}
	http.Redirect(w, r, "/account?linked="+b.Config.ID, http.StatusSeeOther)
	return nil
}

// refuse records a refused security event and returns the page for it.
func (s *Server) refuse(r *http.Request, providerID, reason string, cause error) error {
	s.web.Record(r, "", "signin.refused", providerID, map[string]any{"reason": reason})
	return &web.UserError{Status: http.StatusBadRequest, Title: "Sign-in failed",
		Message: "The sign-in could not be completed: it was not started in this browser, took too long, or was already used.",
		Next:    "Start again from the sign-in page.", Err: fmt.Errorf("%s: %w", reason, cause)}
}

// upstreamFailure turns a provider error into a page and an audit record. The
// page says only what providers.PublicMessage says; the detail goes to the log.
func (s *Server) upstreamFailure(r *http.Request, providerID, action string, err error) error {
	status, reason := failureReason(err)
	var up *providers.UpstreamError
	errors.As(err, &up)
	details := map[string]any{"reason": reason}
	if up != nil {
		details["code"] = web.Truncate(up.Code, 100)
	}
	s.web.Record(r, "", action, providerID, details)
	return &web.UserError{Status: status, Title: "Sign-in failed", Message: providers.PublicMessage(err),
		Next: "Start again from the sign-in page.", Err: err}
}

// failureReason is the status and audit reason of a provider error.
func failureReason(err error) (int, string) {
	status, reason := http.StatusBadRequest, "invalid_response"
	var up *providers.UpstreamError
	switch {
	case errors.As(err, &up):
		// The IdP answered, with an error about this sign-in (a SAML status,
		// often unsigned; an OIDC error= parameter): a client error for the
		// person, never a gateway failure (saml-core §3.2.2.2, RFC 6749
		// §4.1.2.1).
		status, reason = http.StatusBadRequest, "upstream_error"
		if up.AccessDenied() {
			status = http.StatusForbidden
		}
	case errors.Is(err, providers.ErrReplay):
		reason = "replay"
	case errors.Is(err, providers.ErrUnavailable):
		status, reason = http.StatusBadGateway, "unavailable"
	case errors.Is(err, providers.ErrConfig):
		status, reason = http.StatusServiceUnavailable, "config"
	}
	return status, reason
}
