package broker

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// handleLogoutPage asks before signing out: GET never changes state (WEB-04).
func (s *Server) handleLogoutPage(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.CurrentSession(r)
	token, err := s.csrfToken(w, r, "/logout")
	if err != nil {
		return err
	}
	page := templates.Page{Title: "Sign out"}
	if ok {
		page.SignedInAs = displayName(u)
	}
	s.allowUpstreamForms(w, r)
	return render(w, r, http.StatusOK, templates.Logout(templates.LogoutView{Page: page, CSRF: token, SignedIn: ok}))
}

// handleLogout ends the Gatehouse session (the row goes, so a copy of the cookie
// is worth nothing: WEB-07), then continues to the provider's logout where it
// has one, and ends at the signed-out page.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.web.CurrentSession(r)
	s.web.ClearBrowser(w, r)
	if !ok {
		http.Redirect(w, r, "/signed-out", http.StatusSeeOther)
		return nil
	}
	s.web.EndSession(r.Context(), sess.ID)
	s.audit.Enqueue(s.auditEvent(r, u.ID, "session.logout", sess.ID, nil))
	if sent, err := s.upstreamLogout(w, r, sess, nil); sent || err != nil {
		return err
	}
	http.Redirect(w, r, "/signed-out", http.StatusSeeOther)
	return nil
}

// upstreamLogout continues the logout of an ended session at the provider it
// came from (OIDC RP-Initiated Logout 1.0 §2, SAML SP-initiated single logout,
// saml-profiles §4.4.3), when the provider offers one and its
// skip_upstream_logout switch is off, and reports whether it sent the browser
// there. The provider's answer comes back to finishUpstreamLogout, which then
// sends the browser to app, if set: a post_logout_redirect_uri already
// validated against the client's registration.
func (s *Server) upstreamLogout(w http.ResponseWriter, r *http.Request, sess store.Session, app *authzRequest) (bool, error) {
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
		s.log.ErrorContext(ctx, "logout state unreadable", "request_id", RequestID(ctx), "error", err.Error())
		return false, nil
	}
	start, ok, err := lp.BeginLogout(ctx, providers.LogoutParams{LogoutState: state,
		ReturnURL: upstream.EndpointsFor(s.cfg.Issuer, b.Config.ID).LogoutDone})
	if err != nil || !ok {
		if err != nil {
			s.log.WarnContext(ctx, "upstream logout unavailable", "request_id", RequestID(ctx), "provider", b.Config.ID, "error", err.Error())
		}
		return false, nil
	}
	if err := s.setFlow(w, flow{Purpose: flowLogout, Provider: b.Config.ID, Pending: start.Pending, AppReturn: app},
		b.Config.Kind == upstream.KindSAML); err != nil {
		return false, err
	}
	var then []string
	if app != nil {
		then = append(then, formTarget(app.Redirect))
	}
	return true, s.sendUpstream(w, r, start, "Signing you out", then...)
}

// handleLogoutReturn is where an OIDC provider sends the browser after its
// logout (post_logout_redirect_uri).
func (s *Server) handleLogoutReturn(w http.ResponseWriter, r *http.Request) error {
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
		s.record(r, "", "logout.refused", id, map[string]any{"reason": "no_pending_logout"})
	default:
		b, err := s.provider(r)
		if err != nil {
			return err
		}
		lp, ok := b.Provider.(providers.LogoutProvider)
		if !ok {
			return errNotFound
		}
		if err := lp.CompleteLogout(r.Context(), r, f.Pending); err != nil {
			note = "Your organisation's sign-in service did not confirm the sign-out."
			s.record(r, "", "logout.refused", id, map[string]any{"reason": "invalid_logout_response"})
			s.log.WarnContext(r.Context(), "upstream logout response refused", "request_id", RequestID(r.Context()),
				"provider", id, "error", err.Error())
		} else if f.AppReturn != nil {
			return s.appLogoutReturn(w, r, *f.AppReturn)
		}
	}
	return s.renderSignedOut(w, r, note)
}

// appLogoutReturn ends an application's logout that went through the upstream
// provider at its post_logout_redirect_uri. The client's registration is read
// again: one changed since the logout began no longer gets the browser (§3).
func (s *Server) appLogoutReturn(w http.ResponseWriter, r *http.Request, q authzRequest) error {
	c, err := s.registry.Client(r.Context(), q.ClientID)
	if err != nil {
		return err
	}
	if c == nil || !slices.Contains(c.PostLogoutRedirectURIs, q.Redirect) {
		s.record(r, "", "logout.refused", q.ClientID, map[string]any{"reason": "post_logout_redirect_uri"})
		return s.renderSignedOut(w, r, "")
	}
	return s.logoutReturn(w, q)
}

func (s *Server) handleSignedOut(w http.ResponseWriter, r *http.Request) error {
	return s.renderSignedOut(w, r, "")
}

func (s *Server) renderSignedOut(w http.ResponseWriter, r *http.Request, note string) error {
	return render(w, r, http.StatusOK, templates.SignedOut(templates.SignedOutView{Page: templates.Page{Title: "Signed out"}, Note: note}))
}

// handleSAMLMetadata serves the SP metadata of a SAML provider, to give its IdP.
func (s *Server) handleSAMLMetadata(w http.ResponseWriter, r *http.Request) error {
	b, err := s.provider(r)
	if err != nil {
		return err
	}
	mp, ok := b.Provider.(providers.MetadataProvider)
	if !ok {
		return errNotFound
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

// handleSAMLSLO is the SAML single logout endpoint: the IdP's LogoutResponse to
// our LogoutRequest, or the IdP's own LogoutRequest (IdP-initiated logout), which
// ends the sessions it names and is answered.
func (s *Server) handleSAMLSLO(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return &userError{Status: http.StatusBadRequest, Title: "Request not understood",
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
		return errNotFound
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
	ended, endedHere := 0, false
	for _, x := range list {
		state, err := s.ring.Open(x.LogoutStateEnc, []byte("session "+x.ID))
		if err != nil || req.Match == nil || !req.Match(state) {
			continue
		}
		if err := s.store.Sessions().Delete(ctx, x.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := s.RevokeTokens(ctx, store.RefreshFilter{SessionID: x.ID}); err != nil {
			return err
		}
		ended++
		endedHere = endedHere || signedIn && x.ID == cur.ID
	}
	// saml-core §3.7.3.2: the request ends the sessions it names and no other,
	// so this browser keeps its cookie unless its own session just ended.
	if endedHere {
		s.web.ClearBrowser(w, r)
	}
	s.record(r, "", "logout.upstream", b.Config.ID, map[string]any{"sessions_ended": ended})
	answer, err := req.Respond(ended)
	if err != nil {
		return err
	}
	return s.sendUpstream(w, r, answer, "Signing you out")
}

func purposeLogout(sessionID string) string { return "gatehouse rp logout " + sessionID }

var errBadLogoutRequest = &userError{Status: http.StatusBadRequest, Title: "Invalid sign-out request",
	Message: "The application sent a sign-out request that Gatehouse cannot accept, so you were not sent back to it.",
	Next:    "You can sign out on your account page."}

// handleEndSession is OpenID Connect RP-Initiated Logout 1.0 (§2), GET and POST.
// It never signs out on the request alone — any site can send a browser here —
// but asks the person (§2: the OP SHOULD ask); and it returns only to a
// post_logout_redirect_uri registered for the client the request names (§3), by
// client_id or by the audience of id_token_hint. Anything else is a page.
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) error {
	v, err := authzParams(r)
	if err != nil {
		return err
	}
	if len(v) > maxAuthzParams {
		return errBadLogoutRequest
	}
	for name := range v {
		if len(v[name]) > 1 || len(v[name][0]) > 8<<10 {
			return errBadLogoutRequest
		}
	}
	clientID := v.Get("client_id")
	if hint := v.Get("id_token_hint"); hint != "" {
		id, ok := s.idTokenHint(r.Context(), hint)
		if !ok || clientID != "" && clientID != id.Audience[0] {
			return errBadLogoutRequest
		}
		clientID = id.Audience[0]
	}
	var c *store.Client
	if clientID != "" {
		if c, err = s.registry.Client(r.Context(), clientID); err != nil {
			return err
		}
		if c == nil {
			return errBadLogoutRequest
		}
	}
	q := authzRequest{State: truncate(v.Get("state"), 512)}
	if ret := v.Get("post_logout_redirect_uri"); ret != "" {
		// Exact match against the client's registered list (§3, BCP §4.11).
		if c == nil || !slices.Contains(c.PostLogoutRedirectURIs, ret) {
			s.record(r, "", "logout.refused", clientID, map[string]any{"reason": "post_logout_redirect_uri"})
			return errBadLogoutRequest
		}
		q.ClientID, q.Redirect = c.ID, ret
	}
	sess, u, ok := s.web.CurrentSession(r)
	if !ok {
		if q.Redirect != "" {
			return s.logoutReturn(w, q)
		}
		return s.renderSignedOut(w, r, "")
	}
	view := templates.RPLogoutView{Page: templates.Page{Title: "Sign out", SignedInAs: displayName(u)}, Action: "/logout"}
	if c != nil {
		view.ClientName = clientName(c)
	}
	if q.Redirect != "" {
		view.Action = "/oauth2/logout/confirm"
		if view.Request, err = s.sealPending(pendingAuthz{Req: q, Created: s.Now().Unix()}, purposeLogout(sess.ID)); err != nil {
			return err
		}
		// The confirmation may go on to the provider's logout before the
		// application (handleEndSessionConfirm); form-action covers both.
		setFormAction(w, append(s.upstreams.FormOrigins(r.Context()), formTarget(q.Redirect))...)
	} else {
		s.allowUpstreamForms(w, r) // /logout continues to the provider's logout
	}
	if view.CSRF, err = s.csrfToken(w, r, view.Action); err != nil {
		return err
	}
	return render(w, r, http.StatusOK, templates.RPLogout(view))
}

// handleEndSessionConfirm signs out after the person confirmed, and returns to the
// application: the Gatehouse session ends and its tokens are revoked (endSession),
// then, as at /logout, the upstream provider's logout follows where it has one,
// and the application's return waits in the flow cookie until the provider
// answers (finishUpstreamLogout). Without a return address the confirmation
// posts to /logout instead.
func (s *Server) handleEndSessionConfirm(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.web.CurrentSession(r)
	if !ok {
		return errAuthzExpired
	}
	p, err := s.openPending(r.PostFormValue("request"), purposeLogout(sess.ID))
	if err != nil || p.Req.Redirect == "" {
		return errAuthzExpired
	}
	s.web.ClearBrowser(w, r)
	s.web.EndSession(r.Context(), sess.ID)
	s.audit.Enqueue(s.auditEvent(r, u.ID, "session.logout", sess.ID, map[string]any{"client": p.Req.ClientID}))
	if sent, err := s.upstreamLogout(w, r, sess, &p.Req); sent || err != nil {
		return err
	}
	return s.logoutReturn(w, p.Req)
}

// logoutReturn redirects to a validated post_logout_redirect_uri with state (§3).
func (s *Server) logoutReturn(w http.ResponseWriter, q authzRequest) error {
	loc := q.Redirect
	if q.State != "" {
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		loc += sep + url.Values{"state": {q.State}}.Encode()
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// idTokenHint reads an id_token_hint (OIDC Core §3.1.2.1; RP-Initiated Logout §2):
// an ID token Gatehouse issued, to exactly one client (its only audience). An
// expired one is still a hint of a past session, so only the signature (by a key
// still published and not revoked) and the issuer must hold.
func (s *Server) idTokenHint(ctx context.Context, raw string) (token.IDClaims, bool) {
	var id token.IDClaims
	kid, err := s.keys.VerifyKey(ctx, raw, token.TypeID, &id)
	if err != nil || id.Issuer != s.cfg.Issuer.String() || len(id.Audience) != 1 || id.Subject == "" {
		return token.IDClaims{}, false
	}
	// A key revoked on another replica is still in this one's cache until its next
	// refresh (SECURITY.md AS-JWT-04); a store failure refuses the hint too.
	if revoked, err := s.store.Revocations().Latest(ctx, []string{token.KeyRevocationKey(kid)}); err != nil || !revoked.IsZero() {
		return token.IDClaims{}, false
	}
	return id, true
}
