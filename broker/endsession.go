package broker

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/templates"
)

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
	sess, u, ok := s.currentSession(r)
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
		setFormAction(w, formTarget(q.Redirect))
	} else {
		s.allowUpstreamForms(w, r) // /logout continues to the provider's logout
	}
	if view.CSRF, err = s.csrfToken(w, r, view.Action); err != nil {
		return err
	}
	return render(w, r, http.StatusOK, templates.RPLogout(view))
}

// handleEndSessionConfirm signs out after the person confirmed, and returns to the
// application: the Gatehouse session ends and its tokens are revoked (endSession).
// Without a return address the confirmation posts to /logout instead, which also
// signs out at the upstream provider.
func (s *Server) handleEndSessionConfirm(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.currentSession(r)
	if !ok {
		return errAuthzExpired
	}
	p, err := s.openPending(r.PostFormValue("request"), purposeLogout(sess.ID))
	if err != nil || p.Req.Redirect == "" {
		return errAuthzExpired
	}
	s.clearBrowser(w, r)
	s.endSession(r.Context(), sess.ID)
	s.audit.Enqueue(s.auditEvent(r, u.ID, "session.logout", sess.ID, map[string]any{"client": p.Req.ClientID}))
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
// still published) and the issuer must hold.
func (s *Server) idTokenHint(ctx context.Context, raw string) (token.IDClaims, bool) {
	var id token.IDClaims
	if s.keys.Verify(ctx, raw, token.TypeID, &id) != nil || id.Issuer != s.cfg.Issuer.String() || len(id.Audience) != 1 || id.Subject == "" {
		return token.IDClaims{}, false
	}
	return id, true
}
