package signin

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// IdP-initiated SAML sign-in (SAML-35, WEB-05 b). Off unless a provider enables
// it. The unsolicited response is verified at the ACS like any other (signature,
// audience, recipient, fresh IssueInstant, assertion ID into the replay cache),
// but nobody is signed in there: the verified identity waits in the browser's
// encrypted flow cookie until the person confirms on an interstitial page with a
// CSRF-protected POST. Any site can auto-post a response to the ACS; only the
// person can press Continue. RelayState is ignored: the sign-in ends at the
// account page (SAML-36).

// pendingIdentity is a verified identity kept in the browser's flow cookie
// until the person acts on it: the Pending of a flowIdPInitiated or
// flowLinkChoice flow, and a login flow's Link.
type pendingIdentity struct {
	Identity providers.Identity `json:"i"`
	Roles    []string           `json:"r,omitempty"`
}

// setPendingIdentity stores f with p as its Pending. When that is too big for a
// cookie, it keeps what signing in needs, not the raw claims shown to admins.
func (s *Server) setPendingIdentity(w http.ResponseWriter, f flow, p pendingIdentity, saml bool) error {
	f.Pending, _ = json.Marshal(p)
	if s.setFlow(w, f, saml) == nil {
		return nil
	}
	p.Identity.Claims = nil
	f.Pending, _ = json.Marshal(p)
	return s.setFlow(w, f, saml)
}

func continueURL(providerID string) string { return "/saml/" + providerID + "/continue" }

var errNothingToContinue = &web.UserError{Status: http.StatusBadRequest, Title: "Nothing to continue",
	Message: "There is no sign-in from your organisation waiting in this browser, or it took too long.",
	Next:    "Start again from the sign-in page."}

// acceptUnsolicited verifies an unsolicited response and sends the browser to
// the interstitial.
func (s *Server) acceptUnsolicited(w http.ResponseWriter, r *http.Request, b *upstream.Built) error {
	id := b.Config.ID
	ident, err := b.Provider.Complete(r.Context(), r, nil)
	if err != nil {
		return s.upstreamFailure(r, id, "signin.refused", err)
	}
	// The assertion is used up here, not at the confirmation: the response
	// itself can be posted only once (SAML-23).
	if err := s.spend(r, id, "signin.refused", replayKeys(ident.ReplayKeys)); err != nil {
		return err
	}
	if ident.ProviderID != id || ident.Subject == "" {
		return s.refuse(r, id, "identity_for_other_provider", fmt.Errorf("identity from %q", ident.ProviderID))
	}
	p := pendingIdentity{Identity: ident, Roles: upstream.Roles(b.Common.RoleRules, ident)}
	if err := s.setPendingIdentity(w, flow{Purpose: flowIdPInitiated, Provider: id}, p, true); err != nil {
		return s.refuse(r, id, "idp_initiated_too_large", err)
	}
	s.web.Record(r, "", "signin.idp_initiated", id, map[string]any{"subject": ident.Subject})
	http.Redirect(w, r, continueURL(id), http.StatusSeeOther)
	return nil
}

// pendingUnsolicited returns the browser's verified unsolicited sign-in at the
// provider in the path.
func (s *Server) pendingUnsolicited(r *http.Request, f flow, err error) (*upstream.Built, pendingIdentity, error) {
	if err != nil || f.Purpose != flowIdPInitiated || f.Provider != r.PathValue("provider") {
		return nil, pendingIdentity{}, errNothingToContinue
	}
	b, err := s.provider(r)
	if err != nil {
		return nil, pendingIdentity{}, err
	}
	var p pendingIdentity
	if !b.IdPInitiated || json.Unmarshal(f.Pending, &p) != nil || p.Identity.ProviderID != b.Config.ID {
		// Switched off since, or unreadable.
		return nil, pendingIdentity{}, errNothingToContinue
	}
	return b, p, nil
}

// HandleContinuePage is the interstitial: "Continue to sign in?".
func (s *Server) HandleContinuePage(w http.ResponseWriter, r *http.Request) error {
	f, err := s.peekFlow(r, true)
	b, p, err := s.pendingUnsolicited(r, f, err)
	if err != nil {
		return err
	}
	action := continueURL(b.Config.ID)
	token, err := s.web.CSRFToken(w, r, action)
	if err != nil {
		return err
	}
	who := p.Identity.Name
	if who == "" {
		who = p.Identity.Email
	}
	return web.Render(w, r, http.StatusOK, templates.Continue(templates.ContinueView{Page: templates.Page{Title: "Continue to sign in?"},
		CSRF: token, Action: action, ProviderName: b.Config.Name, Who: web.Truncate(who, 256)}))
}

// HandleContinue signs the person in once they confirmed (a form route: the
// CSRF token and origin are checked before it runs). The flow is single-use
// across replicas, like every other.
func (s *Server) HandleContinue(w http.ResponseWriter, r *http.Request) error {
	f, err := s.takeFlow(w, r, true)
	b, p, err := s.pendingUnsolicited(r, f, err)
	if err != nil {
		s.web.Record(r, "", "signin.refused", r.PathValue("provider"), map[string]any{"reason": "no_pending_idp_initiated"})
		return err
	}
	if err := s.refuseSpentFlow(r, b.Config.ID, f); err != nil {
		return err
	}
	return s.signIn(w, r, b, p.Identity, p.Roles, defaultReturnTo, []store.ReplayKey{flowKey(f)})
}
