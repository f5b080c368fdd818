package oauth

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// AppLogoutReturn ends an application's logout that went through the upstream
// provider at its post_logout_redirect_uri. The client's registration is read
// again: one changed since the logout began no longer gets the browser (§3).
func (s *Server) AppLogoutReturn(w http.ResponseWriter, r *http.Request, q web.AppReturn) error {
	c, err := s.registry.Client(r.Context(), q.ClientID)
	if err != nil {
		return err
	}
	if c == nil || !slices.Contains(c.PostLogoutRedirectURIs, q.Redirect) {
		s.web.Record(r, "", "logout.refused", q.ClientID, map[string]any{"reason": "post_logout_redirect_uri"})
		return s.signOut.RenderSignedOut(w, r, "")
	}
	return s.logoutReturn(w, q)
}

func purposeLogout(sessionID string) string { return "gatehouse rp logout " + sessionID }

var errBadLogoutRequest = &web.UserError{Status: http.StatusBadRequest, Title: "Invalid sign-out request",
	Message: "The application sent a sign-out request that Gatehouse cannot accept, so you were not sent back to it.",
	Next:    "You can sign out on your account page."}

// HandleEndSession is OpenID Connect RP-Initiated Logout 1.0 (§2), GET and POST.
// It never signs out on the request alone — any site can send a browser here —
// but asks the person (§2: the OP SHOULD ask); and it returns only to a
// post_logout_redirect_uri registered for the client the request names (§3), by
// client_id or by the audience of id_token_hint. Anything else is a page.
func (s *Server) HandleEndSession(w http.ResponseWriter, r *http.Request) error {
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
		id, ok := s.IDTokenHint(r.Context(), hint)
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
	q := authzRequest{State: web.Truncate(v.Get("state"), 512)}
	if ret := v.Get("post_logout_redirect_uri"); ret != "" {
		// Exact match against the client's registered list (§3, BCP §4.11).
		if c == nil || !slices.Contains(c.PostLogoutRedirectURIs, ret) {
			s.web.Record(r, "", "logout.refused", clientID, map[string]any{"reason": "post_logout_redirect_uri"})
			return errBadLogoutRequest
		}
		q.ClientID, q.Redirect = c.ID, ret
	}
	sess, u, ok := s.web.CurrentSession(r)
	if !ok {
		if q.Redirect != "" {
			return s.logoutReturn(w, appReturn(q))
		}
		return s.signOut.RenderSignedOut(w, r, "")
	}
	view := templates.RPLogoutView{Page: templates.Page{Title: "Sign out", SignedInAs: web.DisplayName(u)}, Action: "/logout"}
	if c != nil {
		view.ClientName = clientName(c)
	}
	if q.Redirect != "" {
		view.Action = "/oauth2/logout/confirm"
		if view.Request, err = s.sealPending(pendingAuthz{Req: q, Created: s.Now().Unix()}, purposeLogout(sess.ID)); err != nil {
			return err
		}
		// The confirmation may go on to the provider's logout before the
		// application (HandleEndSessionConfirm); form-action covers both.
		web.SetFormAction(w, append(s.upstreams.FormOrigins(r.Context()), web.FormTarget(q.Redirect))...)
	} else {
		s.allowUpstreamForms(w, r) // /logout continues to the provider's logout
	}
	if view.CSRF, err = s.web.CSRFToken(w, r, view.Action); err != nil {
		return err
	}
	return web.Render(w, r, http.StatusOK, templates.RPLogout(view))
}

// HandleEndSessionConfirm signs out after the person confirmed, and returns to the
// application: the Gatehouse session ends and its tokens are revoked (endSession),
// then, as at /logout, the upstream provider's logout follows where it has one,
// and the application's return waits in the flow cookie until the provider
// answers (finishUpstreamLogout). Without a return address the confirmation
// posts to /logout instead.
func (s *Server) HandleEndSessionConfirm(w http.ResponseWriter, r *http.Request) error {
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
	s.audit.Enqueue(s.web.AuditEvent(r, u.ID, "session.logout", sess.ID, map[string]any{"client": p.Req.ClientID}))
	app := appReturn(p.Req)
	if sent, err := s.signOut.UpstreamLogout(w, r, sess, &app); sent || err != nil {
		return err
	}
	return s.logoutReturn(w, app)
}

// logoutReturn redirects to a validated post_logout_redirect_uri with state (§3).
func (s *Server) logoutReturn(w http.ResponseWriter, q web.AppReturn) error {
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

// appReturn is where a validated logout request returns to.
func appReturn(q authzRequest) web.AppReturn {
	return web.AppReturn{ClientID: q.ClientID, Redirect: q.Redirect, State: q.State}
}

// IDTokenHint reads an id_token_hint (OIDC Core §3.1.2.1; RP-Initiated Logout §2):
// an ID token Gatehouse issued, to exactly one client (its only audience). An
// expired one is still a hint of a past session, so only the signature (by a key
// still published and not revoked) and the issuer must hold.
func (s *Server) IDTokenHint(ctx context.Context, raw string) (token.IDClaims, bool) {
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
