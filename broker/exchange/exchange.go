// Package exchange is Gatehouse's token exchange (RFC 8693): an upstream ID
// token or SAML assertion, or one of Gatehouse's own access tokens, in; an
// access token scoped to one API out, with act for services acting for people.
// The token endpoint (broker/oauth) authenticates the client and hands the
// grant here through web.TokenExchange.
package exchange

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/accounts"
	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
)

// Keys is what exchange needs of the signing-key manager.
type Keys interface {
	Signer(ctx context.Context) (*keys.Signer, error)
}

// Options are the exchange server's dependencies; every one is required.
type Options struct {
	Web       *web.Core
	Keys      Keys
	Registry  *registry.Cache
	Upstreams *upstream.Registry
	Accounts  *accounts.Resolver
	// Verifier is the one check of Gatehouse access tokens (subject and actor tokens).
	Verifier *token.Verifier
	Now      func() time.Time
	// Delegations applies the delegation rules to exchange with
	// requested_subject; optional: nil builds one over Web's store. Pass the
	// server's one so that its last-use throttle is shared.
	Delegations *delegate.Service
}

// Server serves the token-exchange grant; it implements web.TokenExchange.
type Server struct {
	cfg       *config.Config
	store     store.Store
	audit     *audit.Writer
	keys      Keys
	registry  *registry.Cache
	upstreams *upstream.Registry
	accounts  *accounts.Resolver
	verifier  *token.Verifier
	now       func() time.Time
	delegates *delegate.Service
	// tokenEndpoint is the URL a SAML bearer assertion must name as its
	// Recipient (RFC 7522 §3 item 5).
	tokenEndpoint string
}

var _ web.TokenExchange = (*Server)(nil)

// New builds the exchange server.
func New(o Options) (*Server, error) {
	if o.Web == nil || o.Keys == nil || o.Registry == nil || o.Upstreams == nil || o.Accounts == nil || o.Verifier == nil || o.Now == nil {
		return nil, errors.New("exchange: every option is required")
	}
	d := o.Delegations
	if d == nil {
		d = &delegate.Service{Store: o.Web.Store, Audit: o.Web.Audit, Now: o.Now, AccessTokenTTL: o.Web.Config.AccessTokenTTL, Log: o.Web.Log}
	}
	return &Server{cfg: o.Web.Config, store: o.Web.Store, audit: o.Web.Audit, keys: o.Keys, registry: o.Registry,
		upstreams: o.Upstreams, accounts: o.Accounts, verifier: o.Verifier, now: o.Now, delegates: d,
		tokenEndpoint: o.Web.Config.Issuer.JoinPath("/oauth2/token").String()}, nil
}

// IssuedTokenType is the only token type exchange issues (RFC 8693 §2.2.1, §3).
const IssuedTokenType = registry.TokenTypeAccessToken

// request is a token-exchange request (RFC 8693 §2.1) after its syntax checks.
type request struct {
	subjectToken, subjectType string
	actorToken                string
	subjectIssuer             string
	// target is the one audience asked for by resource or audience; "" for none.
	target string
	// scope is the requested scope; nil when the parameter was omitted.
	scope []string
	// requestedSubject names the person the subject token's holder acts for
	// under a delegation (user ID or email); "" for none.
	requestedSubject string
}

// parseRequest checks the parameters of RFC 8693 §2.1 and the shape of the
// subject token against its declared type (AS-TX-05). Repeated single-valued
// parameters were refused with the form (broker/oauth readForm).
func parseRequest(f url.Values) (request, *web.OAuthError) {
	req := request{subjectToken: f.Get("subject_token"), subjectType: f.Get("subject_token_type"),
		actorToken: f.Get("actor_token"), subjectIssuer: f.Get("subject_issuer")}
	if req.subjectToken == "" || req.subjectType == "" {
		return req, web.Rejected(web.InvalidRequest("subject_token and subject_token_type are required"), "subject_missing", "", "", nil)
	}
	if !slices.Contains(registry.ExchangeTokenTypes, req.subjectType) {
		return req, web.Rejected(web.InvalidRequest("subject_token_type is not supported"), "subject_type_unknown", "", "", nil)
	}
	if !shapeMatches(req.subjectType, req.subjectToken) {
		return req, web.Rejected(web.InvalidRequest("subject_token is not of its subject_token_type"), "subject_type_mismatch", "", "", nil)
	}
	if rt := f.Get("requested_token_type"); rt != "" && rt != IssuedTokenType {
		// §2.1: the server issues only access tokens.
		return req, web.Rejected(web.InvalidRequest("only access tokens can be requested"), "requested_type", "", "", nil)
	}
	at := f.Get("actor_token_type")
	switch {
	case (req.actorToken == "") != (at == ""):
		// §2.1: actor_token_type is REQUIRED with actor_token and MUST NOT be
		// included without it.
		return req, web.Rejected(web.InvalidRequest("actor_token and actor_token_type go together"), "actor_incomplete", "", "", nil)
	case at != "" && at != registry.TokenTypeAccessToken:
		return req, web.Rejected(web.InvalidRequest("actor_token_type must be an access token"), "actor_type", "", "", nil)
	case req.actorToken != "" && !isAccessTokenShape(req.actorToken):
		return req, web.Rejected(web.InvalidRequest("actor_token is not an access token"), "actor_type_mismatch", "", "", nil)
	}
	if req.subjectIssuer != "" && req.subjectType == registry.TokenTypeAccessToken {
		return req, web.Rejected(web.InvalidRequest("subject_issuer names an upstream provider"), "subject_issuer", "", "", nil)
	}
	// requested_subject (Keycloak's name): the delegate proves who they are with
	// a Gatehouse access token, never an upstream one (delegated.go).
	req.requestedSubject = f.Get("requested_subject")
	if req.requestedSubject != "" && req.subjectType != registry.TokenTypeAccessToken {
		return req, web.Rejected(web.InvalidRequest("requested_subject needs an access_token subject token"), "requested_subject_type", "", "", nil)
	}
	// RFC 8693 §2.1 audience and RFC 8707 resource both name the target API
	// by its audience URI; Gatehouse issues single-audience tokens.
	var targets []string
	for _, t := range slices.Concat(f["resource"], f["audience"]) {
		if t != "" && !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	if len(targets) > 1 {
		return req, web.Rejected(web.InvalidTarget("name one target API"), "target_several", "", "", nil)
	}
	if len(targets) == 1 {
		req.target = targets[0]
	}
	if raw := f.Get("scope"); raw != "" {
		req.scope = token.ParseScope(raw)
		for _, sc := range req.scope {
			if !registry.ValidScopeToken(sc) {
				return req, web.Rejected(web.InvalidScope("the scope parameter is malformed"), "scope_malformed", "", "", nil)
			}
		}
	}
	return req, nil
}

// shapeMatches tells whether tok looks like a token of type typ, without
// verifying it (RFC 8693 §3; RFC 8725 §3.11-3.12): a Gatehouse access token is a
// JWS with typ at+jwt (RFC 9068 §2.1); an ID token a JWS with typ JWT or none
// (never at+jwt); a SAML assertion base64url, which has no dots.
func shapeMatches(typ, tok string) bool {
	switch typ {
	case registry.TokenTypeAccessToken:
		return isAccessTokenShape(tok)
	case registry.TokenTypeIDToken:
		if !token.LooksLikeJWT(tok) {
			return false
		}
		t, ok := jwsType(tok)
		return ok && (t == "" || strings.EqualFold(t, "JWT"))
	case registry.TokenTypeSAML2:
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=') {
				return false
			}
		}
		return true
	}
	return false
}

func isAccessTokenShape(tok string) bool {
	if !token.LooksLikeJWT(tok) || len(tok) > token.MaxAccessTokenSize {
		return false
	}
	t, ok := jwsType(tok)
	return ok && strings.EqualFold(t, token.TypeAccess)
}

// maxHeader bounds the JWS header decoded before verification.
const maxHeader = 1024

// jwsType returns the typ of a compact JWS's protected header, unverified.
func jwsType(tok string) (string, bool) {
	h, _, _ := strings.Cut(tok, ".")
	if len(h) > maxHeader {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", false
	}
	var hdr struct {
		Typ string `json:"typ"`
	}
	if json.Unmarshal(b, &hdr) != nil {
		return "", false
	}
	return hdr.Typ, true
}

// subject is who the exchanged token is for, and what bounds it.
type subject struct {
	userID string
	// local is the subject token's claims when it is a Gatehouse access token.
	local *token.AccessClaims
	// provider is the upstream provider whose token was verified.
	provider string
	// roles are the user's roles from the provider's role rules (upstream).
	roles    []string
	authTime time.Time
	acr      string
	amr      []string
	// mayAct is the subject token's may_act (RFC 8693 §4.4); nil for none.
	mayAct *token.Actor
	// prior is the act chain the new token carries without an actor token
	// (RFC 8693 §4.1); nil for none.
	prior *token.Actor
	// delegation is the delegation the token acts under (requested_subject),
	// usable its scopes now (delegate.Usable), and notAfter the end of its
	// chain and of the delegate's subject token; nil and zero otherwise.
	delegation *store.Delegation
	usable     []string
	notAfter   time.Time
	// replay are the keys to record once, just before issuing.
	replay []providers.ReplayKey
	// resolve finds or creates the local user of an upstream identity; it
	// runs after every check that needs no user, so a refusal creates none.
	resolve func(ctx context.Context) (string, *web.OAuthError, error)
}

// response is the RFC 8693 §2.2.1 answer.
type response struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
}

// exchangedDetails are the details of the token.exchanged audit event.
type exchangedDetails struct {
	Actors        []string `json:"actors,omitempty"`
	Audience      string   `json:"aud"`
	JTI           string   `json:"jti"`
	Provider      string   `json:"provider,omitempty"`
	ScopesGranted []string `json:"scopes_granted"`
	ScopesRefused []string `json:"scopes_refused,omitempty"`
	SubjectType   string   `json:"subject_token_type"`
	Delegation    string   `json:"delegation_id,omitempty"`
}

// Exchange serves grant_type token-exchange for client c (RFC 8693 §2).
func (s *Server) Exchange(r *http.Request, c *store.Client, f url.Values) ([]byte, error) {
	ctx := r.Context()
	req, oe := parseRequest(f)
	if oe != nil {
		oe.Client = c.ID
		return nil, oe
	}
	// Who may exchange (AS-TX-09): registration refuses a public client the
	// grant; this is defence in depth.
	if c.Public {
		return nil, web.Rejected(web.UnauthorizedClient("public clients cannot exchange tokens"), "public_client", c.ID, "", nil)
	}
	if !slices.Contains(c.ExchangeTokenTypes, req.subjectType) {
		return nil, web.Rejected(web.UnauthorizedClient("the client may not exchange this token type"), "subject_type_not_allowed", c.ID, "", nil)
	}
	api, err := s.targetAPI(ctx, c, req.target)
	if err != nil {
		return nil, err
	}
	var sub subject
	switch {
	case req.requestedSubject != "":
		sub, err = s.delegatedSubject(ctx, c, api, req)
	case req.subjectType == registry.TokenTypeAccessToken:
		if sub, err = s.localSubject(ctx, c, req); err == nil && sub.local.DelegationID != "" {
			err = s.keepDelegation(ctx, c, api, &sub)
		}
	default:
		sub, err = s.upstreamSubject(ctx, c, req)
	}
	if err != nil {
		return nil, err
	}
	act, err := s.actor(ctx, c, req, &sub)
	if err != nil {
		return nil, err
	}
	granted, refused, err := s.scopes(ctx, c, api, req, &sub)
	if err != nil {
		return nil, err
	}
	if sub.resolve != nil {
		id, oe, err := sub.resolve(ctx)
		if err != nil {
			return nil, err
		}
		if oe != nil {
			return nil, oe
		}
		sub.userID = id
	}
	now := s.now()
	ttl := token.AccessTTL(c, s.cfg.AccessTokenTTL)
	g := token.AccessGrant{ClientID: c.ID, Subject: sub.userID, Audience: api.Audience, Scopes: granted,
		AuthTime: sub.authTime, ACR: sub.acr, AMR: sub.amr, Act: act, Provider: sub.provider,
		// The key the token request proved, if any (RFC 9449 §5, the token
		// endpoint's bindDPoP).
		Confirmation: token.ConfirmationFrom(ctx)}
	if l := sub.local; l != nil {
		// The subject token's session and grant end this one too (the cut-off rule).
		g.GrantID, g.SessionID, g.Provider = l.GrantID, l.SessionID, l.Provider
		if left := time.Unix(l.Expiry, 0).Sub(now); left < ttl {
			ttl = left
		}
	} else {
		// A grant of its own, so the user's revocation keys apply (token.UserToken).
		g.GrantID = token.NewID()
	}
	if !sub.notAfter.IsZero() {
		if left := sub.notAfter.Sub(now); left < ttl {
			ttl = left
		}
	}
	// Last, once every other check passed: a refused exchange leaves the token
	// unspent (AS-TX-04, AS-TX-06). Each key is one insert of its own.
	for _, k := range sub.replay {
		if err := s.store.Replay().Remember(ctx, k.Key, k.ExpiresAt, now); errors.Is(err, store.ErrAlreadyUsed) {
			return nil, web.Rejected(web.InvalidGrant("the subject token was already used", err), "replay", c.ID, sub.userID, nil)
		} else if err != nil {
			return nil, err
		}
	}
	signer, err := s.keys.Signer(ctx)
	if err != nil {
		return nil, err
	}
	cl := token.NewAccess(s.cfg.Issuer.String(), g, now, ttl)
	if d := sub.delegation; d != nil {
		// Ending the delegation revokes the token at once (its revocation key).
		cl.DelegationID = d.ID
	}
	at, err := signer.Sign(cl, token.TypeAccess)
	if err != nil {
		return nil, err
	}
	s.auditExchanged(r, c, req, sub, cl, granted, refused)
	if d := sub.delegation; d != nil {
		s.delegates.RecordUse(ctx, *d, c.ID, granted)
	}
	// §2.2.1; no refresh token: the subject token's holder exchanges again.
	return json.Marshal(response{AccessToken: at, IssuedTokenType: IssuedTokenType, TokenType: token.TokenType(cl),
		ExpiresIn: int64(ttl / time.Second), Scope: cl.Scope})
}

// targetAPI is the API named by resource or audience, or the client's default:
// one it may ask tokens for (token.SelectAudience) and a registered one
// (RFC 8707 §2, RFC 8693 §2.2.2 invalid_target; AS-TX-07, AS-DEL-05).
func (s *Server) targetAPI(ctx context.Context, c *store.Client, target string) (*store.API, error) {
	var ts []string
	if target != "" {
		ts = []string{target}
	}
	aud, err := token.SelectAudience(ts, c)
	if err != nil || aud == "" {
		return nil, web.Rejected(web.InvalidTarget("the target is not an API this client may use"), "target_not_allowed", c.ID, "", nil)
	}
	api, err := s.registry.API(ctx, aud)
	if err != nil {
		return nil, err
	}
	if api == nil {
		return nil, web.Rejected(web.InvalidTarget("the target is not a registered API"), "target_unknown", c.ID, "", nil)
	}
	return api, nil
}

// scopes decides the granted scope (AS-TX-07): requested (or, without scope,
// everything the client may have) ∩ what the subject holds (a local token's
// scope; for an upstream token the user's entitlement from the role rules) ∩
// the client's scopes ∩ the target API's. Identity scopes are never issued by
// exchange. Unlike client_credentials, an explicit scope that cannot be granted
// whole is refused: a service asking for more than the person had is a bug or
// an attack, and narrowing silently would hide it.
func (s *Server) scopes(ctx context.Context, c *store.Client, api *store.API, req request, sub *subject) (granted, refused []string, err error) {
	sr := token.ScopeRequest{Requested: req.scope, ClientAllowed: c.Scopes, API: api, User: true, Roles: sub.roles}
	exceeds := "the requested scope exceeds what the subject token allows"
	if sub.delegation != nil {
		// AS-DEL-04: what the delegation covers now, which Usable already
		// bounded by the grantor's entitlement; a delegate never widens it.
		sr.ClientAllowed = slices.DeleteFunc(slices.Clone(c.Scopes), func(sc string) bool { return !slices.Contains(sub.usable, sc) })
		sr.User = false
		exceeds = "the requested scope exceeds what the delegation allows"
	} else if l := sub.local; l != nil {
		held := token.ParseScope(l.Scope)
		sr.ClientAllowed = slices.DeleteFunc(slices.Clone(c.Scopes), func(sc string) bool { return !slices.Contains(held, sc) })
		if l.Audience.Contains(api.Audience) {
			// The subject token's own API: its scope was decided with the
			// user's roles already.
			sr.User = false
		} else if needsRoles(api, sr) {
			if sr.Roles, err = s.sessionRoles(ctx, l.SessionID); err != nil {
				return nil, nil, err
			}
		}
	}
	for _, sc := range token.GrantScopes(sr) {
		if !slices.Contains(token.IdentityScopes, sc) {
			granted = append(granted, sc)
		}
	}
	for _, sc := range req.scope {
		if !slices.Contains(granted, sc) {
			refused = append(refused, sc)
		}
	}
	if len(refused) > 0 {
		return nil, nil, web.Rejected(web.InvalidScope(exceeds), "scope_exceeds", c.ID,
			sub.userID, map[string]any{"refused": refused})
	}
	if len(granted) == 0 {
		return nil, nil, web.Rejected(web.InvalidScope("no scope of the target API may be granted"), "scope_none", c.ID, sub.userID, nil)
	}
	return granted, refused, nil
}

// needsRoles reports whether a candidate scope of api is restricted to roles.
func needsRoles(api *store.API, sr token.ScopeRequest) bool {
	cands := sr.Requested
	if cands == nil {
		cands = sr.ClientAllowed
	}
	for _, sc := range api.Scopes {
		if len(sc.Roles) > 0 && slices.Contains(cands, sc.Name) && slices.Contains(sr.ClientAllowed, sc.Name) {
			return true
		}
	}
	return false
}

// sessionRoles reads the roles of the browser session a local subject token
// came from; none without a session (that scope is then not grantable).
func (s *Server) sessionRoles(ctx context.Context, sid string) ([]string, error) {
	if sid == "" {
		return nil, nil
	}
	sess, err := s.store.Sessions().Get(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return sess.Roles, err
}

// auditExchanged queues the token.exchanged event for the next group commit,
// off the request's path. Never the token itself (DATA-04).
func (s *Server) auditExchanged(r *http.Request, c *store.Client, req request, sub subject, cl *token.AccessClaims, granted, refused []string) {
	var actors []string
	for a := cl.Act; a != nil; a = a.Act {
		actors = append(actors, a.Subject)
	}
	ri := web.InfoFrom(r.Context())
	s.audit.Enqueue(audit.Event{Actor: "client:" + c.ID, Action: "token.exchanged", Target: sub.userID, IP: ri.IP, RequestID: ri.ID,
		Details: exchangedDetails{Actors: actors, Audience: cl.Audience[0], JTI: cl.ID, Provider: cl.Provider,
			ScopesGranted: granted, ScopesRefused: refused, SubjectType: req.subjectType, Delegation: cl.DelegationID}})
}
