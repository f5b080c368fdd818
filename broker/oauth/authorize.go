package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// HandleAuthorize is the authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2),
// GET and POST. Until the client and its redirect URI are validated, failures are
// pages; afterwards they go back to the client (RFC 6749 §4.1.2.1).
func (s *Server) HandleAuthorize(w http.ResponseWriter, r *http.Request) error {
	v, err := authzParams(r)
	if err != nil {
		return err
	}
	c, redirect, err := s.authzClient(r.Context(), v)
	if err != nil {
		if ue, ok := err.(*web.UserError); ok {
			// Nothing may go back to the client (BCP §4.11.2); the refusal is
			// still the client's, and audited as such.
			reason := "malformed_request"
			switch ue {
			case errUnregisteredRedirect:
				reason = "redirect_uri"
			case errUnknownClient:
				reason = "unknown_client"
			}
			s.web.Record(r, "client:"+web.Truncate(v.Get("client_id"), 128), "oauth.rejected", AuthorizePath,
				map[string]any{"error": "invalid_request", "reason": reason})
		}
		return web.WithUILocalesError(err, v.Get("ui_locales"))
	}
	q := authzRequest{ClientID: c.ID, RedirectURI: v.Get("redirect_uri"), Redirect: redirect}
	if oe := parseAuthzRequest(v, c, &q); oe != nil {
		return s.authzError(w, r, &q, oe)
	}
	if hint := v.Get("id_token_hint"); hint != "" {
		// OIDC Core §3.1.2.1: an ID token this client received names the user
		// the answer must be about.
		id, ok := s.IDTokenHint(r.Context(), hint)
		if !ok || id.Audience[0] != c.ID {
			return s.authzError(w, r, &q, web.InvalidRequest("id_token_hint is not an ID token issued to this client"))
		}
		q.HintSubject = id.Subject
	}
	// OIDC Core §3.1.2.1: prompt=login needs a new sign-in, at Gatehouse and at
	// the upstream IdP; select_account lets the person choose (sessionShortfall below).
	p := pendingAuthz{Req: q, ID: token.NewID(), Created: s.Now().Unix(),
		ForceLogin: q.prompt("login"), Fresh: q.prompt("login"), SelectAccount: q.prompt("select_account")}
	if p.ForceLogin {
		if sess, _, ok := s.web.CurrentSession(r); ok {
			p.PriorSession = sess.ID
		}
	}
	return s.authorize(w, r, c, p)
}

// HandleAuthorizeResume continues an authorization request after sign-in.
func (s *Server) HandleAuthorizeResume(w http.ResponseWriter, r *http.Request) error {
	p, err := s.openPending(r.URL.Query().Get("r"), purposeResume)
	if err != nil {
		return errAuthzExpired
	}
	c, err := s.pendingClient(r.Context(), &p.Req)
	if err != nil {
		return err
	}
	return s.authorize(w, r, c, p)
}

// pendingClient re-reads the client of a pending request: an admin may have
// removed it, or its redirect URI, since.
func (s *Server) pendingClient(ctx context.Context, q *authzRequest) (*store.Client, error) {
	c, err := s.registry.Client(ctx, q.ClientID)
	if err != nil {
		return nil, err
	}
	if c == nil || !registry.MatchRedirectURI(c.RedirectURIs, q.Redirect, c.Public) {
		return nil, errBadRedirect(nil)
	}
	return c, nil
}

// authorize decides what a valid request needs next: a sign-in, a consent, or
// nothing more, in which case the code is issued.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, c *store.Client, p pendingAuthz) error {
	ctx := r.Context()
	q := &p.Req
	api, oe := s.authzAPI(ctx, c, q)
	if oe != nil {
		return s.authzError(w, r, q, oe)
	}
	sess, u, ok := s.web.CurrentSession(r)
	if ok && q.HintSubject != "" && u.ID != q.HintSubject {
		// Someone other than the user id_token_hint names: a positive answer
		// only if that user signs in for this request (OIDC Core §3.1.2.1), so
		// one sign-in is offered, and a second mismatch is the client's error.
		if q.prompt("none") || p.LoginOffered {
			return s.authzError(w, r, q, web.OAuthErr(0, "login_required", "the signed-in user is not the one id_token_hint names", nil))
		}
		ok, p.ForceLogin, p.PriorSession, p.SelectAccount = false, true, sess.ID, true
	}
	if ok {
		if why := s.sessionShortfall(sess, &p); why != "" {
			// A new sign-in, which the prior session cannot stand in for.
			ok, p.ForceLogin, p.PriorSession = false, true, sess.ID
		}
	}
	if !ok || (p.SelectAccount && !p.Chosen) {
		if q.prompt("none") {
			return s.authzError(w, r, q, web.OAuthErr(0, "login_required", "the user is not signed in", nil)) // AS-RED-12
		}
		// select_account: the sign-in page lets the person choose, once.
		p.Chosen = p.SelectAccount
		p.LoginOffered = true
		return s.sendToLogin(w, r, p)
	}
	if need, err := s.needsSecurityKey(ctx, sess, &p); err != nil {
		return err
	} else if need {
		// OIDC Core §3.1.2.6: the step-up needs the person's interaction.
		if q.prompt("none") {
			return s.authzError(w, r, q, web.OAuthErr(0, "interaction_required", "the user must use a security key", nil))
		}
		return s.sendToStepUp(w, r, p)
	}
	roles, err := s.web.Roles(r.Context(), sess) // granted roles too: an admin's own token (issue 12)
	if err != nil {
		return err
	}
	req := token.ScopeRequest{ClientAllowed: c.Scopes, API: api, User: true, Roles: roles}
	if q.ScopeGiven {
		req.Requested = q.Scope
	}
	granted := token.GrantScopes(req)
	if q.ScopeGiven && len(granted) == 0 {
		return s.authzError(w, r, q, web.InvalidScope("none of the requested scopes may be granted"))
	}
	need, err := s.consentNeeded(ctx, c, u.ID, granted, q)
	if err != nil {
		return err
	}
	// Remembered consent never silently switches identity (AS-DEL-03): a person
	// who may use this API for someone else always chooses, on the page.
	offers, err := s.actForOffers(ctx, c, u.ID, api, q)
	if err != nil {
		return err
	}
	if len(need) > 0 || len(offers) > 0 {
		if q.prompt("none") {
			return s.authzError(w, r, q, web.OAuthErr(0, "consent_required", "the user has not consented", nil)) // AS-RED-12
		}
		return s.renderConsent(w, r, c, api, sess, u, p, granted, offers)
	}
	return s.issueCode(w, r, c, sess, u, q, granted, api, "")
}

// sendToLogin sends the person to sign in, returning to the pending request.
func (s *Server) sendToLogin(w http.ResponseWriter, r *http.Request, p pendingAuthz) error {
	resume, err := s.resumeURL(p)
	if err != nil {
		return err
	}
	if len(resume) > maxResumeURL {
		return s.authzError(w, r, &p.Req, web.InvalidRequest("the authorization request is too large"))
	}
	target := web.LoginURL(resume)
	if p.Req.LoginHint != "" {
		target += "&" + url.Values{"login_hint": {p.Req.LoginHint}}.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// sendToStepUp sends the person to use a security key, returning to the
// pending request, which checks the session again.
func (s *Server) sendToStepUp(w http.ResponseWriter, r *http.Request, p pendingAuthz) error {
	resume, err := s.resumeURL(p)
	if err != nil {
		return err
	}
	if len(resume) > maxResumeURL {
		return s.authzError(w, r, &p.Req, web.InvalidRequest("the authorization request is too large"))
	}
	http.Redirect(w, r, web.StepUpURL(resume), http.StatusSeeOther)
	return nil
}

// authzAPI resolves the token's API from resource (RFC 8707 §2) or the client's
// default; nil means the token is for no API (identity scopes only).
func (s *Server) authzAPI(ctx context.Context, c *store.Client, q *authzRequest) (*store.API, *web.OAuthError) {
	aud, err := token.SelectAudience(q.Resource, c)
	if err != nil {
		return nil, web.InvalidTarget("the resource is not an API this client may use")
	}
	if aud == "" {
		return nil, nil
	}
	api, err := s.registry.API(ctx, aud)
	if err != nil || api == nil {
		return nil, web.InvalidTarget("the resource is not a registered API")
	}
	return api, nil
}

// issueCode stores a new authorization code, bound to everything the token
// endpoint checks when it is redeemed (grantAuthorizationCode), and sends it to the
// client. delegationID is the delegation the person chose to act under, "" for
// themselves: the choice lives on the code, never in the remembered consent.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, c *store.Client, sess store.Session, u store.User,
	q *authzRequest, granted []string, api *store.API, delegationID string) error {
	ctx := r.Context()
	now := s.Now()
	code, hash := token.NewOpaque()
	ac := store.AuthCode{CodeHash: hash, GrantID: token.NewID(), ClientID: c.ID, UserID: u.ID, SessionID: sess.ID,
		RedirectURI: q.RedirectURI, Scopes: granted, CodeChallenge: q.Challenge, Nonce: q.Nonce, DelegationID: delegationID, DPoPJKT: q.DPoPJKT,
		AuthTime: sess.AuthTime, ACR: sess.ACR, AMR: sess.AMR, CreatedAt: now, ExpiresAt: now.Add(s.cfg.AuthCodeTTL)}
	if api != nil {
		ac.Audience = api.Audience
	}
	if err := s.store.Codes().Create(ctx, ac); err != nil {
		return err
	}
	details := map[string]any{"grant": ac.GrantID, "scope": token.FormatScope(granted)}
	if delegationID != "" {
		details["delegation"] = delegationID
	} else if err := s.store.Consents().Touch(ctx, u.ID, c.ID, now); err != nil && !isNotFound(err) {
		s.log.WarnContext(ctx, "consent last use not recorded", "request_id", web.RequestID(ctx), "error", err.Error())
	}
	s.audit.Enqueue(s.web.AuditEvent(r, u.ID, "code.issued", c.ID, details))
	return s.authzRespond(w, r, q, url.Values{"code": {code}})
}

// authzError sends an error to the client's validated redirect URI (RFC 6749
// §4.1.2.1, OIDC Core §3.1.2.6). The description is fixed text (AS-META-03).
func (s *Server) authzError(w http.ResponseWriter, r *http.Request, q *authzRequest, oe *web.OAuthError) error {
	if oe.Client == "" {
		oe.Client = q.ClientID
	}
	s.web.AuditRejection(r, AuthorizePath, oe)
	s.log.WarnContext(r.Context(), "authorization refused", "request_id", web.RequestID(r.Context()), "client_id", q.ClientID,
		"error", oe.Code, "description", oe.Description)
	return s.authzRespond(w, r, q, url.Values{"error": {oe.Code}, "error_description": {oe.Description}})
}

// authzRespond delivers an authorization response, success or error, with state
// and iss (RFC 9207 §2; AS-RED-09): as query parameters on a 303 (BCP §4.12,
// AS-RED-10), or as a self-submitting form (OAuth 2.0 Form Post Response Mode).
func (s *Server) authzRespond(w http.ResponseWriter, r *http.Request, q *authzRequest, params url.Values) error {
	if q.State != "" {
		params.Set("state", q.State)
	}
	params.Set("iss", s.cfg.Issuer.String())
	if q.ResponseMode == "form_post" {
		v := templates.AutoPostView{Page: templates.Page{Title: "Returning to the application"}, Action: q.Redirect}
		names := make([]string, 0, len(params))
		for k := range params {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			v.Fields = append(v.Fields, templates.Field{Name: k, Value: params.Get(k)})
		}
		web.SetFormAction(w, web.FormTarget(q.Redirect))
		return web.Render(w, r, http.StatusOK, templates.AutoPost(v))
	}
	// RFC 6749 §3.1.2: keep the registered URI's own query.
	sep := "?"
	if strings.Contains(q.Redirect, "?") {
		sep = "&"
	}
	w.Header().Set("Location", q.Redirect+sep+params.Encode())
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// consentNeeded returns the granted scopes the person must still approve: none
// for a first-party client, all of them for prompt=consent, otherwise those not
// in the remembered consent.
func (s *Server) consentNeeded(ctx context.Context, c *store.Client, userID string, granted []string, q *authzRequest) ([]string, error) {
	if q.prompt("consent") {
		return granted, nil
	}
	if c.FirstParty {
		return nil, nil
	}
	stored, err := s.store.Consents().Get(ctx, userID, c.ID)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	need := slices.DeleteFunc(slices.Clone(granted), func(sc string) bool { return slices.Contains(stored.Scopes, sc) })
	return need, nil
}

// How an authorization request's demands on the sign-in (OIDC Core §3.1.2.1:
// prompt=login, max_age, acr_values; §5.5.1.1: an essential acr) reach the
// upstream IdP and are checked on the way back (SECURITY.md OIDC-25):
//
//  1. authorize decides what the browser's session lacks (sessionShortfall) and
//     sends the person to /login; the demands ride in the sealed pending request
//     inside return_to, which the browser can neither read nor change.
//  2. /login/{provider} reads them from there (SignInDemands, through
//     web.Authorizations) into the
//     provider's BeginParams (prompt=login max_age=0, ForceAuthn, acr_values…)
//     and into the encrypted flow cookie.
//  3. The callback checks the IdP's answer against the flow (package signin,
//     flow.unmetBy): an IdP that ignored the demand is refused, and the client
//     told so (RefuseUnmet).
//  4. The resumed request checks the session again, so a sign-in started
//     without the demands (another tab, a dropped return_to) is not enough.

// sessionShortfall says what the browser's session lacks for p, as an audit
// reason, or "" if it will do. An exceeded max_age turns into a demand for a
// fresh sign-in (p.Fresh), which is then what later checks hold it to: max_age=0
// could never be met by the time the code is issued.
func (s *Server) sessionShortfall(sess store.Session, p *pendingAuthz) string {
	q := &p.Req
	switch {
	case p.ForceLogin && sess.ID == p.PriorSession:
		return "new_session_required"
	case p.Fresh && sess.AuthTime.Before(time.Unix(p.Created, 0).Add(-web.AuthTimeSkew)):
		return "auth_time_before_request"
	case !p.Fresh && q.MaxAge >= 0 && s.Now().Sub(sess.AuthTime) > time.Duration(q.MaxAge)*time.Second:
		p.Fresh = true
		return "max_age"
	case len(q.ACRRequired) > 0 && !slices.Contains(q.ACRRequired, sess.ACR) && !slices.Contains(q.ACRRequired, web.ACRSecurityKey):
		// An essential acr only the upstream IdP can give; Gatehouse's own
		// (a security key) is a step-up of this session (needsSecurityKey).
		return "acr"
	}
	return ""
}

// needsSecurityKey reports whether the session must still use a security key
// for p (issue 15): the client asked for web.ACRSecurityKey, in acr_values or
// as an essential acr, or policy requires one of this person. Such a session
// is stepped up on Gatehouse's page, not signed in again upstream.
func (s *Server) needsSecurityKey(ctx context.Context, sess store.Session, p *pendingAuthz) (bool, error) {
	if web.SteppedUp(sess) {
		return false, nil
	}
	if slices.Contains(p.Req.ACRValues, web.ACRSecurityKey) || slices.Contains(p.Req.ACRRequired, web.ACRSecurityKey) {
		return true, nil
	}
	return s.web.SecurityKeyRequired(ctx, sess)
}

// pendingFromReturnTo opens the authorization request a sign-in will resume, if
// return_to is the resume URL of one.
func (s *Server) pendingFromReturnTo(returnTo string) (pendingAuthz, bool) {
	u, err := url.Parse(returnTo)
	if err != nil || u.Path != ResumePath {
		return pendingAuthz{}, false
	}
	p, err := s.openPending(u.Query().Get("r"), purposeResume)
	return p, err == nil
}

// SignInDemands reads what the pending authorization request returnTo resumes
// asks of the sign-in, for the provider's BeginParams and the flow's checks.
func (s *Server) SignInDemands(returnTo string) (web.SignInDemands, bool) {
	p, ok := s.pendingFromReturnTo(returnTo)
	if !ok {
		return web.SignInDemands{}, false
	}
	// The upstream IdP is not asked for Gatehouse's own acr: the step-up
	// follows its sign-in (needsSecurityKey).
	required := web.WithoutSecurityKeyACR(p.Req.ACRRequired)
	if len(required) < len(p.Req.ACRRequired) {
		// Essential values are alternatives (OIDC Core §5.5.1.1): a security
		// key meets the demand, whatever the IdP answers.
		required = nil
	}
	return web.SignInDemands{ForceLogin: p.ForceLogin, Fresh: p.Fresh, SelectAccount: p.SelectAccount,
		ACRValues: web.WithoutSecurityKeyACR(p.Req.acrPreference()), ACRRequired: required, UILocales: p.Req.UILocales}, true
}

// RefuseUnmet refuses a verified sign-in that did not meet what the client asked
// for. The client gets the error (OIDC Core §3.1.2.6: login_required; an unmet
// essential acr is a failed authentication, §5.5.1.1: access_denied) when the
// request returnTo resumes is still good; otherwise the person gets a page.
func (s *Server) RefuseUnmet(w http.ResponseWriter, r *http.Request, returnTo, providerID, reason string) error {
	s.web.Record(r, "", "signin.refused", providerID, map[string]any{"reason": reason})
	if p, ok := s.pendingFromReturnTo(returnTo); ok {
		if _, err := s.pendingClient(r.Context(), &p.Req); err == nil {
			oe := web.OAuthErr(0, "login_required", "the identity provider did not sign the user in again", nil)
			if reason == "acr_not_satisfied" {
				oe = web.OAuthErr(0, "access_denied", "the identity provider did not authenticate the user as required", nil)
			}
			return s.authzError(w, r, &p.Req, oe)
		}
	}
	return &web.UserError{Status: http.StatusForbidden, Title: "Sign-in not accepted",
		Message: "Your organisation's sign-in service did not confirm a new sign-in, or not with the method this application requires.",
		Next:    "Go back to the application and try again."}
}

// acrPreference is what the IdP is asked for: the essential values first, then
// the voluntary ones (OIDC Core §3.1.2.1 acr_values, in order of preference).
func (q *authzRequest) acrPreference() []string {
	out := slices.Clone(q.ACRRequired)
	for _, v := range q.ACRValues {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// essentialACR reads the acr member of the claims request parameter (OIDC Core
// §5.5.1.1): {"id_token": {"acr": {"essential": true, "values": [...]}}}, or
// "value", or the same under "userinfo". Only acr is honoured; the rest of the
// parameter is ignored, as is one that does not parse (discovery says
// claims_parameter_supported: false).
func essentialACR(raw string) []string {
	if raw == "" {
		return nil
	}
	type claim struct {
		Essential bool     `json:"essential"`
		Value     string   `json:"value"`
		Values    []string `json:"values"`
	}
	var req map[string]map[string]*claim
	if json.Unmarshal([]byte(raw), &req) != nil {
		return nil
	}
	var out []string
	for _, member := range []string{"id_token", "userinfo"} {
		c := req[member]["acr"]
		if c == nil || !c.Essential {
			continue
		}
		for _, v := range append([]string{c.Value}, c.Values...) {
			if v != "" && len(v) <= 256 && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	if len(out) > maxACRValues {
		out = out[:maxACRValues]
	}
	return out
}

// maxACRValues bounds what is carried in the sealed request and sent upstream.
const maxACRValues = 8
