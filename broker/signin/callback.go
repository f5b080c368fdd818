package signin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/emailaddr"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
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
	if f.Provider != id || (f.Purpose != flowLogin && f.Purpose != flowLink) {
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
	if err := s.refuseDisabledProvider(r, id, f); err != nil {
		return err
	}
	ident, err := b.Provider.Complete(ctx, r, f.Pending)
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
	u, login, err := s.resolveUser(r.Context(), r, b, ident)
	if errors.Is(err, errEmailTaken) {
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
	http.Redirect(w, r, localReturnTo(returnTo, defaultReturnTo), http.StatusSeeOther)
	return nil
}

// resolveUser finds or creates the local user of a verified identity;
// (provider, subject) is the key, never the email or the subject alone
// (OIDC-24). login is the login record still to write (with the session, in one
// transaction); zero when linking wrote it. errEmailTaken: the identity is new
// and its verified email is an existing account's that the provider cannot
// vouch for (linkNewIdentity).
func (s *Server) resolveUser(ctx context.Context, r *http.Request, b *upstream.Built, ident providers.Identity) (u store.User, login store.Identity, err error) {
	now := s.Now()
	rec := s.identityRecord(ident, "", now)
	for range 2 {
		u, err := s.store.Identities().UserOf(ctx, ident.ProviderID, ident.Subject)
		switch {
		case err == nil:
			rec.UserID = u.ID
			return u, rec, nil
		case !errors.Is(err, store.ErrNotFound):
			return store.User{}, store.Identity{}, err
		}
		u, err = s.linkNewIdentity(ctx, r, b, ident, rec)
		if !errors.Is(err, store.ErrConflict) {
			return u, store.Identity{}, err
		}
		// A concurrent first sign-in of the same identity linked it first:
		// this one is a sign-in of the user it created.
	}
	return store.User{}, store.Identity{}, fmt.Errorf("resolve user: identity %s keeps conflicting", ident.ProviderID)
}

// errEmailTaken: a new identity's verified email is an existing account's, and
// no automatic link is allowed; the person chooses (offerLinkChoice).
var errEmailTaken = errors.New("an account with this email exists")

// linkNewIdentity links an identity seen for the first time. It joins the
// existing account with the same email (in canonical form) only when this
// provider vouches for the email (vouches) and exactly one account's email is
// vouched for by a provider of its own: a trusted provider speaks for its own
// domains only, so it cannot claim another provider's people (OIDC-23, WEB-25),
// and an account opened with an email nobody vouched for is no link target
// (account pre-hijacking). Otherwise a verified email that an account already
// has is errEmailTaken, and anything else gets a new user. ErrConflict means
// another request linked the identity meanwhile, and nothing was stored.
func (s *Server) linkNewIdentity(ctx context.Context, r *http.Request, b *upstream.Built, ident providers.Identity, rec store.Identity) (store.User, error) {
	if ident.Email != "" {
		us, err := s.store.Users().FindByEmail(ctx, ident.Email)
		if err != nil {
			return store.User{}, err
		}
		if len(us) > 0 && vouches(b.Config, ident.Email, ident.EmailVerified) {
			owner, err := s.emailOwner(ctx, us, ident.Email)
			if err != nil {
				return store.User{}, err
			}
			if owner.ID != "" {
				rec.UserID, rec.LinkedAt = owner.ID, rec.LastLoginAt
				if err := s.store.Identities().Link(ctx, rec); err != nil {
					return store.User{}, err
				}
				s.web.Record(r, owner.ID, "identity.linked", ident.ProviderID, map[string]any{"by": "verified_email", "subject": ident.Subject})
				return owner, nil
			}
		}
		if len(us) > 0 && ident.EmailVerified {
			return store.User{}, errEmailTaken
		}
	}
	return s.createUser(ctx, r, ident, rec)
}

// createUser creates a user for a verified identity and links it, in one
// transaction; ErrConflict if the identity was linked meanwhile. The profile
// is what the provider said, verified flag included (OIDC Core §5.1:
// email_verified tells apps the truth), whatever its trust for linking.
func (s *Server) createUser(ctx context.Context, r *http.Request, ident providers.Identity, rec store.Identity) (store.User, error) {
	now := rec.LastLoginAt
	u := store.User{ID: token.Random(16), Email: ident.Email, EmailVerified: ident.EmailVerified && ident.Email != "",
		Name: web.Truncate(ident.Name, 256), CreatedAt: now, UpdatedAt: now}
	rec.LinkedAt = now
	if err := s.store.Identities().LinkNewUser(ctx, u, rec); err != nil {
		return store.User{}, err
	}
	s.audit.Enqueue(s.web.AuditEvent(r, u.ID, "user.created", ident.ProviderID, map[string]any{"subject": ident.Subject}))
	return u, nil
}

// vouches reports whether a provider's word settles who owns an email: the
// admin trusts it for linking, it asserted the email verified, and the email's
// domain is one of the provider's own configured domains.
func vouches(p store.ProviderConfig, email string, verified bool) bool {
	d := emailaddr.Domain(email)
	return p.TrustEmailLinking && verified && d != "" && slices.Contains(p.Domains, d)
}

// emailOwner returns the one user among us whose email one of their own
// identities vouches for (the identity's provider vouches for that email as it
// asserted it), or a zero User when none or several do.
func (s *Server) emailOwner(ctx context.Context, us []store.User, email string) (store.User, error) {
	email = emailaddr.Canonical(email)
	var owner store.User
	for _, u := range us {
		ids, err := s.store.Identities().ListForUser(ctx, u.ID)
		if err != nil {
			return store.User{}, err
		}
		for _, id := range ids {
			if emailaddr.Canonical(id.Email) != email {
				continue
			}
			p, err := s.store.Providers().Get(ctx, id.ProviderID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return store.User{}, err
			}
			if vouches(p, id.Email, id.EmailVerified) {
				if owner.ID != "" && owner.ID != u.ID {
					return store.User{}, nil
				}
				owner = u
				break
			}
		}
	}
	return owner, nil
}

func (s *Server) identityRecord(ident providers.Identity, userID string, now time.Time) store.Identity {
	claims, _ := json.Marshal(ident.Claims)
	return store.Identity{ProviderID: ident.ProviderID, Subject: ident.Subject, UserID: userID, Email: ident.Email,
		EmailVerified: ident.EmailVerified, Claims: claims, LastLoginAt: now}
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
	rec := s.identityRecord(ident, u.ID, now)
	existing, err := s.store.Identities().Get(ctx, ident.ProviderID, ident.Subject)
	switch {
	case err == nil && existing.UserID == u.ID:
		if err := s.store.Identities().RecordLogin(ctx, rec); err != nil {
			return err
		}
	case err == nil:
		s.web.Record(r, u.ID, "identity.link_refused", ident.ProviderID, map[string]any{"reason": "linked_to_another_user"})
		return &web.UserError{Status: http.StatusConflict, Title: "Account already linked",
			Message: "That account at " + b.Config.Name + " is already linked to another Gatehouse account.",
			Next:    "Sign in with it to use that Gatehouse account, or ask your administrator."}
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
	details := map[string]any{"reason": reason}
	if up != nil {
		details["code"] = web.Truncate(up.Code, 100)
	}
	s.web.Record(r, "", action, providerID, details)
	return &web.UserError{Status: status, Title: "Sign-in failed", Message: providers.PublicMessage(err),
		Next: "Start again from the sign-in page.", Err: err}
}
