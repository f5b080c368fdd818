package signin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse/broker/accounts"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// Linking on proof of both (WEB-25, OIDC-23). A first sign-in whose verified
// email an existing account already has, at a provider that cannot vouch for
// that email on its own, links nothing by itself: the verified identity waits
// in the browser's flow cookie while the person chooses. Either they sign in
// the way the existing account does — a fresh sign-in, whose flow carries the
// waiting identity (flow.Link) and links it to the account that sign-in proves
// — or they continue with a separate account. An unverified email never gets
// this page: it proves nothing, and the page would tell anyone who can type an
// address that an account has it.

const LinkChoicePath = "/signin/link"

var errNothingToLink = &web.UserError{Status: http.StatusBadRequest, Title: "Nothing to link",
	Message: "There is no sign-in waiting in this browser, or it took too long.",
	Next:    "Start again from the sign-in page."}

// offerLinkChoice keeps the verified identity for the person's choice. The
// response is used up here, not at the choice: it can be posted only once.
func (s *Server) offerLinkChoice(w http.ResponseWriter, r *http.Request, b *upstream.Built, ident providers.Identity, roles []string, returnTo string, used []store.ReplayKey) error {
	id := b.Config.ID
	if err := s.spend(r, id, "signin.refused", used); err != nil {
		return err
	}
	f := flow{Purpose: flowLinkChoice, Provider: id, ReturnTo: returnTo}
	if err := s.setPendingIdentity(w, f, pendingIdentity{Identity: ident, Roles: roles}, false); err != nil {
		return s.refuse(r, id, "link_choice_too_large", err)
	}
	s.web.Record(r, "", "signin.link_offered", id, map[string]any{"subject": ident.Subject})
	http.Redirect(w, r, LinkChoicePath, http.StatusSeeOther)
	return nil
}

// pendingLinkChoice returns the browser's waiting identity and its provider.
func (s *Server) pendingLinkChoice(r *http.Request, f flow, err error) (*upstream.Built, pendingIdentity, error) {
	var p pendingIdentity
	if err != nil || f.Purpose != flowLinkChoice || json.Unmarshal(f.Pending, &p) != nil || p.Identity.ProviderID != f.Provider {
		return nil, p, errNothingToLink
	}
	b, err := s.upstreams.Get(r.Context(), f.Provider)
	if err != nil {
		// Removed or switched off since.
		return nil, p, errNothingToLink
	}
	return b, p, nil
}

// linkOptions are the enabled providers through which the accounts with the
// waiting identity's email sign in, other than its own.
func (s *Server) linkOptions(r *http.Request, p pendingIdentity) ([]store.ProviderConfig, error) {
	ctx := r.Context()
	us, err := s.store.Users().FindByEmail(ctx, p.Identity.Email)
	if err != nil {
		return nil, err
	}
	enabled, err := s.upstreams.Enabled(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.ProviderConfig
	for _, u := range us {
		ids, err := s.store.Identities().ListForUser(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			i := slices.IndexFunc(enabled, func(c store.ProviderConfig) bool { return c.ID == id.ProviderID })
			if i >= 0 && id.ProviderID != p.Identity.ProviderID &&
				!slices.ContainsFunc(out, func(c store.ProviderConfig) bool { return c.ID == id.ProviderID }) {
				out = append(out, enabled[i])
			}
		}
	}
	return out, nil
}

// HandleLinkChoicePage asks: link to the existing account, or keep apart?
func (s *Server) HandleLinkChoicePage(w http.ResponseWriter, r *http.Request) error {
	f, err := s.peekFlow(r, false)
	b, p, err := s.pendingLinkChoice(r, f, err)
	if err != nil {
		return err
	}
	options, err := s.linkOptions(r, p)
	if err != nil {
		return err
	}
	token, err := s.web.CSRFToken(w, r, LinkChoicePath)
	if err != nil {
		return err
	}
	v := templates.LinkChoiceView{Page: templates.Page{Title: "An account with this email exists"}, CSRF: token,
		Action: LinkChoicePath, ProviderName: b.Config.Name, Email: web.Truncate(p.Identity.Email, 256)}
	for _, c := range options {
		v.Providers = append(v.Providers, s.choice(r, c, ""))
	}
	return web.Render(w, r, http.StatusOK, templates.LinkChoice(v))
}

// HandleLinkChoice carries out the choice (a form route: CSRF token and origin
// are checked before it runs). The waiting identity is used once across
// replicas, like every flow.
func (s *Server) HandleLinkChoice(w http.ResponseWriter, r *http.Request) error {
	f, err := s.takeFlow(w, r, false)
	b, p, err := s.pendingLinkChoice(r, f, err)
	if err != nil {
		s.web.Record(r, "", "signin.refused", f.Provider, map[string]any{"reason": "no_pending_link_choice"})
		return err
	}
	id := b.Config.ID
	if err := s.refuseSpentFlow(r, id, f); err != nil {
		return err
	}
	used := []store.ReplayKey{flowKey(f)}
	choice := r.PostFormValue("choice")
	if choice == "new" {
		u, err := s.accounts.NewUser(r.Context(), p.Identity)
		if errors.Is(err, store.ErrConflict) {
			return s.refuse(r, id, "identity_linked_meanwhile", err)
		}
		if err != nil {
			return err
		}
		return s.signInAs(w, r, b, u, p.Identity, p.Roles, store.Identity{}, f.ReturnTo, used)
	}
	options, err := s.linkOptions(r, p)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(options, func(c store.ProviderConfig) bool { return c.ID == choice }) {
		return &web.UserError{Status: http.StatusBadRequest, Title: "Choose an option",
			Message: "That is not one of the ways to sign in to the existing account.",
			Next:    "Start again from the sign-in page.", Err: fmt.Errorf("link choice %q", choice)}
	}
	proof, err := s.upstreams.Get(r.Context(), choice)
	if err != nil {
		return errUnknownProvider
	}
	if err := s.spend(r, id, "signin.refused", used); err != nil {
		return err
	}
	// The link travels in the proving sign-in's own flow: only what linking
	// needs, so the cookie stays small.
	p.Identity.Claims, p.Identity.Groups, p.Identity.LogoutState = nil, nil, nil
	link, _ := json.Marshal(pendingIdentity{Identity: p.Identity})
	nf := flow{Purpose: flowLogin, ReturnTo: f.ReturnTo, Link: link}
	var bp providers.BeginParams
	if d, ok := s.authz.SignInDemands(f.ReturnTo); ok {
		s.applyDemands(d, &nf, &bp)
	}
	// Proof of the existing account is a fresh sign-in (WEB-25), as for a
	// link from the account page.
	bp.Reauthenticate, nf.FreshSince = true, s.Now().Unix()
	s.web.Record(r, "", "signin.link_chosen", id, map[string]any{"subject": p.Identity.Subject, "proof": choice})
	return s.beginFlow(w, r, proof, nf, bp)
}

// completeProof finishes a sign-in that proves an existing account for a
// waiting identity: the identity is linked to the account the sign-in
// resolves to, and the person is signed in to it. The responses' keys are
// recorded first, as for every link.
func (s *Server) completeProof(w http.ResponseWriter, r *http.Request, b *upstream.Built, f flow, ident providers.Identity, used []store.ReplayKey) error {
	ctx := r.Context()
	id := b.Config.ID
	if err := s.spend(r, id, "signin.refused", used); err != nil {
		return err
	}
	var p pendingIdentity
	if err := json.Unmarshal(f.Link, &p); err != nil || p.Identity.ProviderID == "" {
		return s.refuse(r, id, "link_unreadable", errors.New("unreadable link in flow"))
	}
	if _, err := s.upstreams.Get(ctx, p.Identity.ProviderID); err != nil {
		return s.refuse(r, id, "link_provider_gone", err)
	}
	u, err := s.store.Identities().UserOf(ctx, ident.ProviderID, ident.Subject)
	if errors.Is(err, store.ErrNotFound) {
		s.web.Record(r, "", "identity.link_refused", p.Identity.ProviderID, map[string]any{"reason": "proof_not_an_account"})
		return &web.UserError{Status: http.StatusConflict, Title: "No account to link to",
			Message: "The account you signed in with at %s does not belong to a Gatehouse account yet.", MessageArgs: []any{b.Config.Name},
			Next: "Start again from the sign-in page and sign in the way you did before."}
	}
	if err != nil {
		return err
	}
	now := s.Now()
	rec := accounts.IdentityRecord(p.Identity, u.ID, now)
	rec.LinkedAt = now
	if err := s.store.Identities().Link(ctx, rec); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return s.refuse(r, id, "identity_linked_meanwhile", err)
		}
		return err
	}
	s.web.Record(r, u.ID, "identity.linked", p.Identity.ProviderID, map[string]any{"by": "proof_of_both", "subject": p.Identity.Subject, "proof": id})
	login := accounts.IdentityRecord(ident, u.ID, now)
	return s.signInAs(w, r, b, u, ident, upstream.Roles(b.Common.RoleRules, ident), login, f.ReturnTo, nil)
}
