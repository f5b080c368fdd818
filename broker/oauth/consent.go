package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// identityScopeText describes the OpenID Connect scopes (OIDC Core §5.4) on the
// consent page; API scopes bring their own descriptions.
var identityScopeText = map[string]string{
	"openid":         "Know who you are: your Gatehouse account ID.",
	"profile":        "See your name.",
	"email":          "See your email address and whether it is verified.",
	"offline_access": "Keep this access while you are not using the application.",
}

// renderConsent asks the person to approve the scopes the client asks for. The
// pending request rides in the form sealed to this session (WEB-01: another
// session's form does not open here), and the form carries the CSRF token.
// "(new)" marks what the person has not approved for this client before (not
// what prompt=consent asks again); the requested scopes that cannot be granted
// are listed with the reason, so nobody wonders where they went.
func (s *Server) renderConsent(w http.ResponseWriter, r *http.Request, c *store.Client, api *store.API, sess store.Session,
	u store.User, p pendingAuthz, granted []string, offers []actForOffer) error {
	ctx := r.Context()
	p.ActFor = offerIDs(offers)
	sealed, err := s.sealPending(p, purposeConsent(sess.ID))
	if err != nil {
		return err
	}
	csrf, err := s.web.CSRFToken(w, r, "/oauth2/consent")
	if err != nil {
		return err
	}
	stored, err := s.store.Consents().Get(ctx, u.ID, c.ID)
	if err != nil && !isNotFound(err) {
		return err
	}
	roles, err := s.web.Roles(ctx, sess)
	if err != nil {
		return err
	}
	v := templates.ConsentView{Page: templates.Page{Title: "Allow access?", SignedInAs: web.DisplayName(u)},
		ClientID: c.ID, ClientName: clientName(c), LogoURL: web.HTTPSURL(c.LogoURI), UserName: web.DisplayName(u), UserEmail: u.Email,
		Request: sealed, CSRF: csrf, ReturnHost: redirectHost(p.Req.Redirect),
		HomeURL: web.HTTPSURL(c.ClientURI), HomeHost: redirectHost(web.HTTPSURL(c.ClientURI)),
		// A third-party app whose answers travel without TLS (RFC 6749 §3.1.2.1
		// SHOULD require TLS; a loopback or custom-scheme native app cannot).
		InsecureReturn: !c.FirstParty && !isHTTPSURL(p.Req.Redirect)}
	if api != nil {
		v.APIName = api.Name
		if v.ActFor, err = s.actForViews(ctx, api, offers); err != nil {
			return err
		}
	}
	requested := c.Scopes
	if p.Req.ScopeGiven {
		requested = p.Req.Scope
	}
	v.Scopes, v.NotGranted = consentScopes(c, api, roles, stored, granted, requested)
	// "Not you?": the same request again, after a fresh sign-in.
	if sw, err := s.resumeURL(pendingAuthz{Req: p.Req, ID: p.ID, Created: p.Created, ForceLogin: true, PriorSession: sess.ID,
		Fresh: p.Fresh, SelectAccount: true}); err == nil && len(sw) <= maxResumeURL {
		v.SwitchURL = sw
	}
	// Chromium checks form-action on the redirect that answers the form too.
	web.SetFormAction(w, web.FormTarget(p.Req.Redirect))
	r = r.WithContext(web.WithUILocales(r.Context(), p.Req.UILocales))
	return web.Render(w, r, http.StatusOK, templates.Consent(v))
}

// consentScopes describes for the page the granted scopes ("new" when not in the
// stored consent) and the requested ones that were not granted, with why; the
// consent page and the device confirmation page (RFC 8628 §5.4) show both.
func consentScopes(c *store.Client, api *store.API, roles []string, stored store.Consent, granted, requested []string) (
	scopes, notGranted []templates.ConsentScope) {
	for _, sc := range granted {
		scopes = append(scopes, templates.ConsentScope{Name: sc, Description: scopeText(api, sc),
			New: !slices.Contains(stored.Scopes, sc)})
	}
	for _, sc := range requested {
		if slices.Contains(granted, sc) || slices.ContainsFunc(notGranted, func(x templates.ConsentScope) bool { return x.Name == sc }) {
			continue
		}
		notGranted = append(notGranted, templates.ConsentScope{Name: sc, Description: scopeText(api, sc),
			Refused: refusedBecause(c, api, roles, sc)})
	}
	return scopes, notGranted
}

// scopeText is a scope's description for people: the OIDC scopes' own, or the
// API's; "" when there is none.
func scopeText(api *store.API, sc string) string {
	if t, ok := identityScopeText[sc]; ok {
		return t
	}
	if api != nil {
		if i := slices.IndexFunc(api.Scopes, func(x store.Scope) bool { return x.Name == sc }); i >= 0 {
			return api.Scopes[i].Description
		}
	}
	return ""
}

// refusedBecause says why token.GrantScopes dropped a requested scope, in the
// order it checks: the client may not ask for it, no API has it, or the
// person's roles do not entitle them to it.
func refusedBecause(c *store.Client, api *store.API, roles []string, sc string) string {
	if !slices.Contains(c.Scopes, sc) {
		return templates.RefusedClient
	}
	if api == nil || !slices.ContainsFunc(api.Scopes, func(x store.Scope) bool { return x.Name == sc }) {
		return templates.RefusedUnknown
	}
	return templates.RefusedRole
}

func isHTTPSURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https"
}

func clientName(c *store.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

func redirectHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Host
}

var errConsentSession = &web.UserError{Status: http.StatusForbidden, Title: "Request refused",
	Message: "This approval does not belong to the account signed in in this browser, or it has expired.",
	Next:    "Go back to the application and start again."}

// HandleConsentSubmit takes the person's decision. The form route has already
// refused cross-site posts and a missing or wrong CSRF token (WEB-01); the
// pending request must be sealed to this very session and is used once.
func (s *Server) HandleConsentSubmit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sess, u, ok := s.web.CurrentSession(r)
	if !ok {
		return errConsentSession
	}
	p, err := s.openPending(r.PostFormValue("request"), purposeConsent(sess.ID))
	if err != nil {
		s.web.Record(r, u.ID, "consent.refused", "", map[string]any{"reason": "request_not_for_this_session"})
		return errConsentSession
	}
	c, err := s.pendingClient(ctx, &p.Req)
	if err != nil {
		return err
	}
	now := s.Now()
	if err := s.store.Replay().Remember(ctx, "consent:"+p.ID, time.Unix(p.Created, 0).Add(web.FlowTTL+time.Minute), now); err != nil {
		if errors.Is(err, store.ErrAlreadyUsed) {
			return errAuthzExpired
		}
		return err
	}
	q := &p.Req
	switch r.PostFormValue("decision") {
	case "approve":
	case "deny":
		s.web.Record(r, u.ID, "consent.denied", c.ID, nil)
		return s.authzError(w, r, q, web.OAuthErr(0, "access_denied", "the user denied the request", nil))
	default:
		return errBadAuthzRequest(nil)
	}
	api, oe := s.authzAPI(ctx, c, q)
	if oe != nil {
		return s.authzError(w, r, q, oe)
	}
	if id := r.PostFormValue("act_for"); id != "" {
		return s.consentActFor(w, r, c, api, sess, u, p, id)
	}
	roles, err := s.web.Roles(ctx, sess) // granted roles too: an admin's own token (issue 12)
	if err != nil {
		return err
	}
	req := token.ScopeRequest{ClientAllowed: c.Scopes, API: api, User: true, Roles: roles}
	if q.ScopeGiven {
		req.Requested = q.Scope
	}
	granted := token.GrantScopes(req)
	if len(granted) == 0 && q.ScopeGiven {
		return s.authzError(w, r, q, web.InvalidScope("none of the requested scopes may be granted"))
	}
	if err := s.rememberConsent(r, u, c, granted, now); err != nil {
		return err
	}
	return s.issueCode(w, r, c, sess, u, q, granted, api, "")
}

// rememberConsent adds granted to what the person has allowed c, so that the
// next request within it does not ask again (AS-DEL-03), and audits it.
func (s *Server) rememberConsent(r *http.Request, u store.User, c *store.Client, granted []string, now time.Time) error {
	ctx := r.Context()
	stored, err := s.store.Consents().Get(ctx, u.ID, c.ID)
	if err != nil && !isNotFound(err) {
		return err
	}
	all := slices.Clone(stored.Scopes)
	for _, sc := range granted {
		if !slices.Contains(all, sc) {
			all = append(all, sc)
		}
	}
	if err := s.store.Consents().Put(ctx, store.Consent{UserID: u.ID, ClientID: c.ID, Scopes: all,
		CreatedAt: now, UpdatedAt: now, LastUsedAt: now}); err != nil {
		return err
	}
	s.web.Record(r, u.ID, "consent.granted", c.ID, map[string]any{"scope": token.FormatScope(granted)})
	return nil
}

// consentActFor issues a code acting under the delegation id the person chose.
// The choice must be one the page offered, sealed in the pending request
// (AS-DEL-02: an edited form, another person's or an unknown delegation, is
// refused), and still usable; the scope comes from the pending request and the
// delegation, never from the form. Nothing is remembered as consent: the next
// authorization asks again (AS-DEL-03).
func (s *Server) consentActFor(w http.ResponseWriter, r *http.Request, c *store.Client, api *store.API, sess store.Session,
	u store.User, p pendingAuthz, id string) error {
	q := &p.Req
	if !slices.Contains(p.ActFor, id) {
		s.web.Record(r, u.ID, "consent.refused", c.ID, map[string]any{"reason": "delegation_not_offered"})
		return errActForRefused
	}
	d, scopes, err := s.chosenDelegation(r.Context(), c, u.ID, api, q, id)
	if errors.Is(err, delegate.ErrUnusable) {
		s.web.Record(r, u.ID, "consent.refused", c.ID, map[string]any{"reason": "delegation_unusable", "delegation": id})
		return s.authzError(w, r, q, web.OAuthErr(0, "access_denied", "the delegation chosen can no longer be used", nil))
	}
	if err != nil {
		return err
	}
	s.web.Record(r, u.ID, "consent.acting_for", c.ID, map[string]any{"delegation": d.ID, "grantor": d.GrantorID,
		"scope": token.FormatScope(scopes)})
	return s.issueCode(w, r, c, sess, u, q, scopes, api, d.ID)
}

// HandleConsentRevoke is the account page's "Revoke" of a connected app: the
// consent goes, and with it every refresh token (and, at introspection, access
// token) the app holds for this person (DESIGN: revoking a consent revokes that
// client's refresh tokens).
func (s *Server) HandleConsentRevoke(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	ctx := r.Context()
	clientID := r.PostFormValue("client")
	if err := s.store.Consents().Delete(ctx, u.ID, clientID); err != nil {
		if isNotFound(err) {
			return web.ErrNotFound
		}
		return err
	}
	if err := s.RevokeTokens(ctx, store.RefreshFilter{UserID: u.ID, ClientID: clientID}); err != nil {
		return err
	}
	s.web.Record(r, u.ID, "consent.revoked", clientID, nil)
	http.Redirect(w, r, "/account?"+url.Values{"revoked": {clientID}}.Encode(), http.StatusSeeOther)
	return nil
}

// HandleConsentRevokePage asks the person to confirm revoking a connected app's
// access (the account page's "Revoke"): a second step that works without
// JavaScript, its form carrying the CSRF token of HandleConsentRevoke.
func (s *Server) HandleConsentRevokePage(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	ctx := r.Context()
	clientID := r.URL.Query().Get("client")
	if _, err := s.store.Consents().Get(ctx, u.ID, clientID); err != nil {
		if isNotFound(err) {
			return web.ErrNotFound
		}
		return err
	}
	name := clientID
	if cl, err := s.registry.Client(ctx, clientID); err == nil && cl != nil {
		name = clientName(cl)
	}
	v := templates.AccountConfirmView{Page: templates.Page{Title: "Revoke access?", SignedInAs: web.DisplayName(u)},
		Action: "/account/apps/revoke", Field: "client", Value: clientID, App: name}
	var err error
	if v.CSRF, err = s.web.CSRFToken(w, r, v.Action); err != nil {
		return err
	}
	return web.Render(w, r, http.StatusOK, templates.AccountConfirm(v))
}

// ConnectedApps lists the person's consents for the account page.
func (s *Server) ConnectedApps(ctx context.Context, userID string) ([]templates.AppRow, error) {
	list, err := s.store.Consents().ListForUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []templates.AppRow
	now := s.Now()
	for _, c := range list {
		row := templates.AppRow{ClientID: c.ClientID, Name: c.ClientID, Scopes: token.FormatScope(c.Scopes),
			LastUsed: templates.When{At: c.LastUsedAt, Now: now}}
		if cl, err := s.registry.Client(ctx, c.ClientID); err == nil && cl != nil {
			row.Name = clientName(cl)
		}
		out = append(out, row)
	}
	return out, nil
}
