package signin

import (
	"net/http"

	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// HandleLogoutPage asks before signing out: GET never changes state (WEB-04).
func (s *Server) HandleLogoutPage(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.CurrentSession(r)
	token, err := s.web.CSRFToken(w, r, "/logout")
	if err != nil {
		return err
	}
	page := templates.Page{Title: "Sign out"}
	if ok {
		page.SignedInAs = web.DisplayName(u)
	}
	s.allowUpstreamForms(w, r)
	return web.Render(w, r, http.StatusOK, templates.Logout(templates.LogoutView{Page: page, CSRF: token, SignedIn: ok}))
}

// HandleLogout ends the Gatehouse session (the row goes, so a copy of the cookie
// is worth nothing: WEB-07), then continues to the provider's logout where it
// has one, and ends at the signed-out page.
func (s *Server) HandleLogout(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.web.CurrentSession(r)
	s.web.ClearBrowser(w, r)
	if !ok {
		http.Redirect(w, r, "/signed-out", http.StatusSeeOther)
		return nil
	}
	s.web.EndSession(r.Context(), sess.ID)
	s.audit.Enqueue(s.web.AuditEvent(r, u.ID, "session.logout", sess.ID, nil))
	if sent, err := s.UpstreamLogout(w, r, sess, nil); sent || err != nil {
		return err
	}
	http.Redirect(w, r, "/signed-out", http.StatusSeeOther)
	return nil
}

// UpstreamLogout continues the logout of an ended session at the provider it
// came from (OIDC RP-Initiated Logout 1.0 §2, SAML SP-initiated single logout,
// saml-profiles §4.4.3), when the provider offers one and its
// skip_upstream_logout switch is off, and reports whether it sent the browser
// there. The provider's answer comes back to finishUpstreamLogout, which then
// sends the browser to app, if set: a post_logout_redirect_uri already
// validated against the client's registration.
func (s *Server) UpstreamLogout(w http.ResponseWriter, r *http.Request, sess store.Session, app *web.AppReturn) (bool, error) {
	ctx := r.Context()
	b, err := s.upstreams.Get(ctx, sess.ProviderID)
	if err != nil || b.Common.SkipUpstreamLogout {
		return false, nil
	}
	lp, ok := b.Provider.(providers.LogoutProvider)
	if !ok || len(sess.LogoutStateEnc) == 0 {
		return false, nil
	}
	state, err := s.ring.Open(sess.LogoutStateEnc, []byte("session "+sess.ID))
	if err != nil {
		s.log.ErrorContext(ctx, "logout state unreadable", "request_id", web.RequestID(ctx), "error", err.Error())
		return false, nil
	}
	start, ok, err := lp.BeginLogout(ctx, providers.LogoutParams{LogoutState: state,
		ReturnURL: upstream.EndpointsFor(s.cfg.Issuer, b.Config.ID).LogoutDone})
	if err != nil || !ok {
		if err != nil {
			s.log.WarnContext(ctx, "upstream logout unavailable", "request_id", web.RequestID(ctx), "provider", b.Config.ID, "error", err.Error())
		}
		return false, nil
	}
	if err := s.setFlow(w, flow{Purpose: flowLogout, Provider: b.Config.ID, Pending: start.Pending, AppReturn: app},
		b.Config.Kind == upstream.KindSAML); err != nil {
		return false, err
	}
	var then []string
	if app != nil {
		then = append(then, web.FormTarget(app.Redirect))
	}
	return true, s.sendUpstream(w, r, start, "Signing you out", then...)
}

// HandleLogoutReturn is where an OIDC provider sends the browser after its
// logout (post_logout_redirect_uri).
func (s *Server) HandleLogoutReturn(w http.ResponseWriter, r *http.Request) error {
	return s.finishUpstreamLogout(w, r, false)
}

// finishUpstreamLogout checks the provider's answer to our logout request. The
// Gatehouse session is already gone; a bad answer only changes the page.
func (s *Server) finishUpstreamLogout(w http.ResponseWriter, r *http.Request, saml bool) error {
	id := r.PathValue("provider")
	f, err := s.takeFlow(w, r, saml)
	note := ""
	switch {
	case err != nil || f.Purpose != flowLogout || f.Provider != id:
		note = "Your organisation's sign-in service did not confirm the sign-out."
		s.web.Record(r, "", "logout.refused", id, map[string]any{"reason": "no_pending_logout"})
	default:
		b, err := s.provider(r)
		if err != nil {
			return err
		}
		lp, ok := b.Provider.(providers.LogoutProvider)
		if !ok {
			return web.ErrNotFound
		}
		if err := lp.CompleteLogout(r.Context(), r, f.Pending); err != nil {
			note = "Your organisation's sign-in service did not confirm the sign-out."
			s.web.Record(r, "", "logout.refused", id, map[string]any{"reason": "invalid_logout_response"})
			s.log.WarnContext(r.Context(), "upstream logout response refused", "request_id", web.RequestID(r.Context()),
				"provider", id, "error", err.Error())
		} else if f.AppReturn != nil {
			return s.authz.AppLogoutReturn(w, r, *f.AppReturn)
		}
	}
	return s.RenderSignedOut(w, r, note)
}

func (s *Server) HandleSignedOut(w http.ResponseWriter, r *http.Request) error {
	return s.RenderSignedOut(w, r, "")
}

func (s *Server) RenderSignedOut(w http.ResponseWriter, r *http.Request, note string) error {
	return web.Render(w, r, http.StatusOK, templates.SignedOut(templates.SignedOutView{Page: templates.Page{Title: "Signed out"}, Note: note}))
}

// HandleSAMLMetadata serves the SP metadata of a SAML provider, to give its IdP.
func (s *Server) HandleSAMLMetadata(w http.ResponseWriter, r *http.Request) error {
	b, err := s.provider(r)
	if err != nil {
		return err
	}
	mp, ok := b.Provider.(providers.MetadataProvider)
	if !ok {
		return web.ErrNotFound
	}
	body, ctype, err := mp.Metadata()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(body)
	return nil
}

// HandleSAMLSLO is the SAML single logout endpoint: the IdP's LogoutResponse to
// our LogoutRequest, or the IdP's own LogoutRequest (IdP-initiated logout), which
// ends the sessions it names and is answered.
func (s *Server) HandleSAMLSLO(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return &web.UserError{Status: http.StatusBadRequest, Title: "Request not understood",
			Message: "The sign-out message could not be read.", Next: "Go to the start page.", Err: err}
	}
	if r.Form.Has("SAMLResponse") {
		return s.finishUpstreamLogout(w, r, true)
	}
	if err := s.rateLimit(s.limits.callback, r); err != nil {
		return err
	}
	b, err := s.provider(r)
	if err != nil {
		return err
	}
	lh, ok := b.Provider.(providers.LogoutRequestHandler)
	if !ok {
		return web.ErrNotFound
	}
	ctx := r.Context()
	req, err := lh.HandleLogoutRequest(ctx, r)
	if err != nil {
		return s.upstreamFailure(r, b.Config.ID, "logout.refused", err)
	}
	if err := s.spend(r, b.Config.ID, "logout.refused", replayKeys(req.ReplayKeys)); err != nil {
		return err
	}
	// The sessions of the principal named: by subject when the provider's
	// subject is what the IdP names, else by the provider's logout key.
	var list []store.Session
	switch {
	case req.Subject != "":
		list, err = s.store.Sessions().ListForIdentity(ctx, b.Config.ID, req.Subject)
	case req.LogoutKey != "":
		list, err = s.store.Sessions().ListForLogoutKey(ctx, b.Config.ID, req.LogoutKey)
	}
	if err != nil {
		return err
	}
	// Looked up before the sessions end: whoever's browser delivers the request
	// is signed out here only if its own session is among those named.
	cur, _, signedIn := s.web.CurrentSession(r)
	var ended []string
	endedHere := false
	for _, x := range list {
		state, err := s.ring.Open(x.LogoutStateEnc, []byte("session "+x.ID))
		if err != nil || req.Match == nil || !req.Match(state) {
			continue
		}
		ended = append(ended, x.ID)
		endedHere = endedHere || signedIn && x.ID == cur.ID
	}
	if _, err := revoke.Sessions(ctx, s.store, ended, s.Now(), s.cfg.AccessTokenTTL); err != nil {
		return err
	}
	// saml-core §3.7.3.2: the request ends the sessions it names and no other,
	// so this browser keeps its cookie unless its own session just ended.
	if endedHere {
		s.web.ClearBrowser(w, r)
	}
	s.web.Record(r, "", "logout.upstream", b.Config.ID, map[string]any{"sessions_ended": len(ended)})
	answer, err := req.Respond(len(ended))
	if err != nil {
		return err
	}
	return s.sendUpstream(w, r, answer, "Signing you out")
}
