package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
)

// tokenResponse is a successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// HandleToken is the token endpoint (RFC 6749 §3.2): it authenticates the client,
// then hands the request to its grant.
func (s *Server) HandleToken(w http.ResponseWriter, r *http.Request) error {
	f, c, err := s.clientRequest(r)
	if err != nil {
		return err
	}
	gt := f.get("grant_type")
	var grant func(r *http.Request, c *store.Client, f form) (*tokenResponse, error)
	switch gt {
	case "":
		return web.InvalidRequest("grant_type is required")
	case registry.GrantClientCredentials:
		grant = s.grantClientCredentials
	case registry.GrantAuthorizationCode:
		grant = s.grantAuthorizationCode
	case registry.GrantRefreshToken:
		grant = s.grantRefreshToken
	case registry.GrantDeviceCode:
		grant = s.grantDeviceCode
	case registry.GrantTokenExchange:
		if s.exchange == nil {
			return web.OAuthErr(http.StatusBadRequest, "unsupported_grant_type", "the grant type is not supported", nil)
		}
	default:
		return web.OAuthErr(http.StatusBadRequest, "unsupported_grant_type", "the grant type is not supported", nil)
	}
	// RFC 6749 §5.2 unauthorized_client; BCP §2.4 (AS-CODE-07).
	if !slices.Contains(c.GrantTypes, gt) {
		return web.UnauthorizedClient("the client may not use this grant type")
	}
	if f.cert != nil {
		// RFC 8705 §3: every token this request gets is bound to its client
		// certificate; bindDPoP adds the DPoP key beside it (RFC 9449 §6.1).
		r = r.WithContext(token.WithConfirmation(r.Context(), confirmation(f.cert)))
	}
	if r, err = s.bindDPoP(w, r, c); err != nil {
		return err
	}
	if gt == registry.GrantTokenExchange {
		// RFC 8693 §2.2.1: its own response (issued_token_type), built by the
		// exchange capability.
		b, err := s.exchange.Exchange(r, c, f.v)
		if err != nil {
			return err
		}
		web.WriteNoStoreJSON(w, http.StatusOK, b)
		return nil
	}
	res, err := grant(r, c, f)
	if err != nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	web.WriteNoStoreJSON(w, http.StatusOK, b)
	return nil
}

// mintAccess signs the access token of g, issued to c (token.NewAccess), with
// signer; it returns the token, its claims and its lifetime.
func (s *Server) mintAccess(signer interface {
	Sign(claims any, typ string) (string, error)
}, c *store.Client, g token.AccessGrant, now time.Time) (string, *token.AccessClaims, time.Duration, error) {
	ttl := token.AccessTTL(c, s.cfg.AccessTokenTTL)
	cl := token.NewAccess(s.cfg.Issuer.String(), g, now, ttl)
	tok, err := signer.Sign(cl, token.TypeAccess)
	return tok, cl, ttl, err
}

// mintActingFor is mintAccess for a token acting under a delegation: sub is the
// person whose access it is (the first grantor: delegate.Lineage), act the
// delegate who signed in with, nested below, whoever passed the access on to
// them (RFC 8693 §4.1), delegation_id names the delegation (its revocation key),
// and it expires no later than the delegation does (a re-delegation never
// outlives its parent).
func (s *Server) mintActingFor(signer *keys.Signer, c *store.Client, g token.AccessGrant, a *actingFor,
	now time.Time) (string, *token.AccessClaims, time.Duration, error) {
	ttl := token.AccessTTL(c, s.cfg.AccessTokenTTL)
	if left := a.d.ExpiresAt.Sub(now).Truncate(time.Second); left < ttl {
		ttl = left
	}
	g.Act = token.NestActors(nil, a.lineage.Actors(g.Subject))
	g.Subject = a.lineage.Root
	cl := token.NewAccess(s.cfg.Issuer.String(), g, now, ttl)
	cl.DelegationID = a.d.ID
	tok, err := signer.Sign(cl, token.TypeAccess)
	return tok, cl, ttl, err
}

func (s *Server) refreshTTL(c *store.Client) time.Duration {
	if c.RefreshTokenTTL > 0 {
		return c.RefreshTokenTTL
	}
	return s.cfg.RefreshTokenTTL
}

// grantClientCredentials issues a token to the client itself (RFC 6749 §4.4). It is
// the hot path: the client and API come from the in-memory registry cache, the
// audit event is group-committed, and nothing else touches the database.
func (s *Server) grantClientCredentials(r *http.Request, c *store.Client, f form) (*tokenResponse, error) {
	api, err := s.targetAPI(r.Context(), c, f)
	if err != nil {
		return nil, err
	}
	if api == nil {
		return nil, web.InvalidTarget("no resource was given and the client has no default API")
	}
	scopes, err := s.requestedScopes(f, token.ScopeRequest{ClientAllowed: c.Scopes, API: api})
	if err != nil {
		return nil, err
	}
	signer, err := s.keys.Signer(r.Context())
	if err != nil {
		return nil, err
	}
	now := s.Now()
	at, cl, ttl, err := s.mintAccess(signer, c, token.AccessGrant{ClientID: c.ID, Audience: api.Audience, Scopes: scopes,
		Confirmation: token.ConfirmationFrom(r.Context())}, now)
	if err != nil {
		return nil, err
	}
	s.auditIssued(r, c.ID, registry.GrantClientCredentials, cl)
	// RFC 6749 §4.4.3: no refresh token (AS-RT-08).
	return &tokenResponse{AccessToken: at, TokenType: token.TokenType(cl), ExpiresIn: int64(ttl / time.Second), Scope: cl.Scope}, nil
}

// targetAPI resolves the token's API from the resource parameter or the client's
// default (RFC 8707 §2); nil with no error means the client has no default API.
func (s *Server) targetAPI(ctx context.Context, c *store.Client, f form) (*store.API, error) {
	aud, err := token.SelectAudience(f.all("resource"), c)
	if err != nil {
		return nil, web.InvalidTarget("the resource is not an API this client may use")
	}
	if aud == "" {
		return nil, nil
	}
	api, err := s.registry.API(ctx, aud)
	if err != nil {
		return nil, err
	}
	if api == nil {
		return nil, web.InvalidTarget("the resource is not a registered API")
	}
	return api, nil
}

// requestedScopes applies the scope policy to the scope parameter. A request whose
// every scope is refused is invalid_scope; a partly refused one is narrowed silently
// and the response reports the granted scope (RFC 6749 §3.3, AS-DEL-01/05).
func (s *Server) requestedScopes(f form, req token.ScopeRequest) ([]string, error) {
	if raw := f.get("scope"); raw != "" {
		req.Requested = token.ParseScope(raw)
		for _, sc := range req.Requested {
			if !registry.ValidScopeToken(sc) {
				return nil, web.InvalidScope("the scope parameter is malformed")
			}
		}
	}
	granted := token.GrantScopes(req)
	if len(req.Requested) > 0 && len(granted) == 0 {
		return nil, web.InvalidScope("none of the requested scopes may be granted")
	}
	return granted, nil
}

// auditIssued queues the issuance event for the next group commit: issuance is high
// volume and must not wait on a database write. Never the token itself (DATA-04).
func (s *Server) auditIssued(r *http.Request, clientID, grant string, cl *token.AccessClaims) {
	ri := web.InfoFrom(r.Context())
	s.audit.Enqueue(audit.Event{
		Actor: "client:" + clientID, Action: "token.issued", Target: cl.Subject, IP: ri.IP, RequestID: ri.ID,
		Details: issuedDetails{Audience: cl.Audience, Delegation: cl.DelegationID, GrantType: grant, JTI: cl.ID, Scope: cl.Scope},
	})
}

// issuedDetails are the details of token.issued, in the key order a map would have.
type issuedDetails struct {
	Audience []string `json:"aud"`
	// Delegation names the delegation a token acting for someone was issued under.
	Delegation string `json:"delegation,omitempty"`
	GrantType  string `json:"grant_type"`
	JTI        string `json:"jti"`
	Scope      string `json:"scope"`
}

// grantAuthorizationCode redeems a code (RFC 6749 §4.1.3). The code is claimed
// first, exactly once across every replica (store.Codes.Redeem), and only then
// checked: a code presented with the wrong client, redirect URI or verifier is burnt,
// and a code presented twice revokes everything its first redemption issued (RFC
// 6749 §4.1.2, AS-CODE-01).
func (s *Server) grantAuthorizationCode(r *http.Request, c *store.Client, f form) (*tokenResponse, error) {
	ctx := r.Context()
	code := f.get("code")
	if code == "" {
		return nil, web.InvalidRequest("code is required")
	}
	now := s.Now()
	ac, err := s.store.Codes().Redeem(ctx, token.Hash(code), now)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		if err := s.revokeGrant(ctx, ac.GrantID, now); err != nil {
			return nil, err
		}
		return nil, web.Rejected(web.InvalidGrant("the authorization code was already used", err), "code_reused", c.ID, ac.UserID,
			map[string]any{"grant": ac.GrantID})
	case errors.Is(err, store.ErrNotFound):
		return nil, web.Rejected(web.InvalidGrant("the authorization code is invalid or expired", err), "code_unknown", c.ID, "", nil)
	case err != nil:
		return nil, err
	}
	if oe := s.checkCode(c, &ac, f); oe != nil {
		return nil, web.Rejected(oe, oe.Reason, c.ID, ac.UserID, map[string]any{"grant": ac.GrantID})
	}
	if why := dpopMismatch(r, ac.DPoPJKT); why != "" {
		// RFC 9449 §10: the code is bound to the dpop_jkt of its authorization
		// request; like any other mismatch it is spent.
		return nil, web.Rejected(web.OAuthErr(http.StatusBadRequest, "invalid_dpop_proof", why, nil), "dpop_code_key", c.ID, ac.UserID,
			map[string]any{"grant": ac.GrantID})
	}
	if err := s.signInStands(ctx, c, ac.UserID, ac.SessionID, ac.GrantID, "the code came from"); err != nil {
		return nil, err
	}
	// The code's scope was decided at authorization; the client may have lost some
	// of its allowed scopes since.
	scopes := slices.DeleteFunc(slices.Clone(ac.Scopes), func(sc string) bool { return !slices.Contains(c.Scopes, sc) })
	var acting *actingFor
	if ac.DelegationID != "" {
		// Acting for someone: the delegation must be usable now, and the scope
		// narrows to what it covers now (AS-DEL-04).
		if acting, err = s.delegationNow(ctx, ac.DelegationID, ac.UserID, ac.Audience, now); err != nil {
			return nil, delegationRefused(err, c.ID, ac.UserID, ac.DelegationID)
		}
		if scopes = acting.narrow(scopes); !coversAPI(scopes) {
			return nil, delegationRefused(&delegate.Unusable{Reason: "covers nothing of the grant now"}, c.ID, ac.UserID, ac.DelegationID)
		}
	}
	signer, err := s.keys.Signer(ctx)
	if err != nil {
		return nil, err
	}
	g := token.AccessGrant{ClientID: c.ID, Subject: ac.UserID, Audience: ac.Audience, Scopes: scopes, GrantID: ac.GrantID,
		SessionID: ac.SessionID, AuthTime: ac.AuthTime, ACR: ac.ACR, AMR: ac.AMR, Confirmation: token.ConfirmationFrom(ctx)}
	res, cl, err := s.issueUserTokens(ctx, signer, c, g, acting, ac.Nonce, now)
	if err != nil {
		return nil, err
	}
	if slices.Contains(c.GrantTypes, registry.GrantRefreshToken) {
		rt, hash := token.NewOpaque()
		// A refresh token acting for someone belongs to the delegate (UserID):
		// their session, consent and account end it, as does the delegation.
		err := s.store.RefreshTokens().Create(ctx, store.RefreshToken{
			TokenHash: hash, FamilyID: token.NewID(), GrantID: ac.GrantID, ClientID: c.ID, UserID: ac.UserID,
			SessionID: ac.SessionID, Scopes: scopes, Audience: ac.Audience, DelegationID: ac.DelegationID,
			AuthTime: ac.AuthTime, ACR: ac.ACR, AMR: ac.AMR, DPoPJKT: refreshBinding(r, c), X5TS256: certRefreshBinding(r, c),
			CreatedAt: now, ExpiresAt: now.Add(s.refreshTTL(c)),
		})
		if err != nil {
			return nil, err
		}
		res.RefreshToken = rt
	}
	s.auditIssued(r, c.ID, registry.GrantAuthorizationCode, cl)
	if acting != nil {
		s.delegations.RecordUse(ctx, acting.d, c.ID, scopes)
	}
	return res, nil
}

// checkCode binds the code to the client, the redirect URI and the PKCE verifier.
func (s *Server) checkCode(c *store.Client, ac *store.AuthCode, f form) *web.OAuthError {
	if ac.ClientID != c.ID {
		// RFC 6749 §4.1.3; AS-CODE-03.
		return web.Rejected(web.InvalidGrant("the authorization code was issued to another client", nil), "code_other_client", "", "", nil)
	}
	if f.get("redirect_uri") != ac.RedirectURI {
		// RFC 6749 §4.1.3: identical to the authorization request's.
		return web.Rejected(web.InvalidGrant("redirect_uri does not match the authorization request", nil), "redirect_uri", "", "", nil)
	}
	if ac.CodeChallenge == "" {
		// Every authorization needs PKCE (BCP §2.1.1); a code without a challenge is
		// not one Gatehouse issued.
		return web.Rejected(web.InvalidGrant("the authorization code has no PKCE challenge", nil), "pkce_missing", "", "", nil)
	}
	v := f.get("code_verifier")
	if v == "" {
		return web.Rejected(web.InvalidGrant("code_verifier is required", nil), "pkce_verifier_missing", "", "", nil) // RFC 7636 §4.6; AS-PKCE-03
	}
	if !validVerifier(v) {
		return web.Rejected(web.InvalidGrant("code_verifier is malformed", nil), "pkce_verifier_malformed", "", "", nil) // RFC 7636 §4.1
	}
	sum := sha256.Sum256([]byte(v))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(ac.CodeChallenge)) != 1 {
		return web.Rejected(web.InvalidGrant("code_verifier does not match the challenge", nil), "pkce_mismatch", "", "", nil) // RFC 7636 §4.6; AS-PKCE-04
	}
	return nil
}

// validVerifier: RFC 7636 §4.1, 43–128 characters of [A-Z] [a-z] [0-9] - . _ ~.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// issueUserTokens mints the access token, and an ID token when openid was granted,
// both with one Signer so at_hash matches the ID token's algorithm. acting, when
// set, makes the access token act for the delegation's grantor; the ID token stays
// about g.Subject, who signed in (OIDC Core §2: sub is the authenticated End-User).
func (s *Server) issueUserTokens(ctx context.Context, signer *keys.Signer, c *store.Client, g token.AccessGrant, acting *actingFor,
	nonce string, now time.Time) (*tokenResponse, *token.AccessClaims, error) {
	var at string
	var cl *token.AccessClaims
	var ttl time.Duration
	var err error
	if acting != nil {
		at, cl, ttl, err = s.mintActingFor(signer, c, g, acting, now)
	} else {
		at, cl, ttl, err = s.mintAccess(signer, c, g, now)
	}
	if err != nil {
		return nil, nil, err
	}
	res := &tokenResponse{AccessToken: at, TokenType: token.TokenType(cl), ExpiresIn: int64(ttl / time.Second), Scope: cl.Scope}
	if slices.Contains(g.Scopes, "openid") {
		// OIDC Core §3.1.3.7: the ID token is signed with the alg the client
		// registered (id_token_signed_response_alg, default RS256), which may differ
		// from the access token's; at_hash follows the ID token's alg.
		idSigner, err := s.keys.SignerFor(ctx, c.IDTokenAlg())
		if err != nil {
			return nil, nil, err
		}
		id := &token.IDClaims{
			Issuer: s.cfg.Issuer.String(), Subject: g.Subject, Audience: token.Audience{c.ID},
			Expiry: now.Add(s.cfg.IDTokenTTL).Unix(), IssuedAt: now.Unix(), AuthTime: token.Unix(g.AuthTime),
			Nonce: nonce, AuthorizedParty: c.ID, AccessTokenHash: token.AccessTokenHash(idSigner.Algorithm(), at),
			ACR: g.ACR, AMR: g.AMR, SessionID: g.SessionID,
		}
		if res.IDToken, err = token.SignID(idSigner, id); err != nil {
			return nil, nil, err
		}
	}
	return res, cl, nil
}

// grantRefreshToken rotates a refresh token (RFC 6749 §6, RFC 9700 §4.14.2): the
// presented token is claimed once across every replica and replaced by a new one in
// the same family; presenting a rotated token again revokes the whole family and
// every access token of its grant.
func (s *Server) grantRefreshToken(r *http.Request, c *store.Client, f form) (*tokenResponse, error) {
	ctx := r.Context()
	raw := f.get("refresh_token")
	if raw == "" {
		return nil, web.InvalidRequest("refresh_token is required")
	}
	hash := token.Hash(raw)
	old, err := s.store.RefreshTokens().GetByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, web.Rejected(web.InvalidGrant("the refresh token is invalid", err), "refresh_token_unknown", c.ID, "", nil)
	}
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if old.ClientID != c.ID {
		// RFC 6749 §6: bound to the client. Another client holding it means it was
		// stolen: its family is revoked (AS-RT-03), with its grant.
		if err := s.revokeGrant(ctx, old.GrantID, now); err != nil {
			return nil, err
		}
		return nil, web.Rejected(web.InvalidGrant("the refresh token was issued to another client", nil), "refresh_token_other_client",
			c.ID, old.UserID, map[string]any{"owner": old.ClientID, "family": old.FamilyID})
	}
	if why := dpopMismatch(r, old.DPoPJKT); why != "" {
		// RFC 9449 §5: a public client's refresh token is bound to its DPoP key;
		// without a proof by it the token is refused, and not spent.
		return nil, web.Rejected(web.OAuthErr(http.StatusBadRequest, "invalid_dpop_proof", why, nil), "dpop_refresh_key", c.ID, old.UserID,
			map[string]any{"family": old.FamilyID})
	}
	if old.X5TS256 != "" {
		// RFC 8705 §4: a public client's refresh token is bound to the certificate
		// it was issued over; another certificate, or none, cannot use it.
		if cf := token.ConfirmationFrom(r.Context()); cf == nil || cf.X5TS256 != old.X5TS256 {
			return nil, web.Rejected(web.InvalidGrant("the refresh token is bound to another certificate", nil), "refresh_token_certificate",
				c.ID, old.UserID, map[string]any{"family": old.FamilyID})
		}
	}
	// RFC 6749 §6: the new scope may only narrow the original (AS-RT-04). The new
	// refresh token keeps the original scope; only the access token narrows.
	scopes := old.Scopes
	if raw := f.get("scope"); raw != "" {
		req := token.ParseScope(raw)
		if !token.Subset(req, old.Scopes) {
			return nil, web.Rejected(web.InvalidScope("the requested scope exceeds the original grant"), "scope_exceeds_grant", c.ID, old.UserID, nil)
		}
		scopes = req
	}
	scopes = slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool { return !slices.Contains(c.Scopes, sc) })
	st, err := s.store.Revocations().Standing(ctx, store.StandingOf{UserID: old.UserID, SessionID: old.SessionID,
		Keys: refreshRevocationKeys(old)})
	if err != nil {
		return nil, err
	}
	if revokedSince(st, old.CreatedAt) {
		return nil, web.Rejected(web.InvalidGrant("the refresh token was revoked", nil), "refresh_token_revoked", c.ID, old.UserID,
			map[string]any{"family": old.FamilyID})
	}
	if !st.UserActive {
		return nil, web.Rejected(web.InvalidGrant("the user cannot receive tokens", nil), "user_unavailable", c.ID, old.UserID, nil)
	}
	if st.SessionEnded {
		return nil, web.Rejected(web.InvalidGrant("the refresh token was revoked", nil), "session_ended", c.ID, old.UserID,
			map[string]any{"family": old.FamilyID})
	}
	var acting *actingFor
	if old.DelegationID != "" {
		// Every refresh re-checks the delegation, the grantor's entitlements and
		// the client's scopes (issue 11); the access token narrows to all three.
		if acting, err = s.delegationNow(ctx, old.DelegationID, old.UserID, old.Audience, now); err != nil {
			return nil, delegationRefused(err, c.ID, old.UserID, old.DelegationID)
		}
		if scopes = acting.narrow(scopes); !coversAPI(scopes) {
			return nil, delegationRefused(&delegate.Unusable{Reason: "covers nothing of the grant now"}, c.ID, old.UserID, old.DelegationID)
		}
	}
	next, nextHash := token.NewOpaque()
	rotated, err := s.store.RefreshTokens().Rotate(ctx, hash, store.RefreshToken{
		TokenHash: nextHash, GrantID: old.GrantID, ClientID: old.ClientID, UserID: old.UserID,
		SessionID: old.SessionID, Scopes: old.Scopes, Audience: old.Audience, DelegationID: old.DelegationID,
		AuthTime: old.AuthTime, ACR: old.ACR, AMR: old.AMR, DPoPJKT: old.DPoPJKT, X5TS256: old.X5TS256, // the family keeps its binding
		CreatedAt: now, ExpiresAt: old.ExpiresAt, // the family's remaining lifetime
	}, now)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		// The store revoked the family; the access tokens go through the grant.
		if err := s.revokeGrant(ctx, rotated.GrantID, now); err != nil {
			return nil, err
		}
		return nil, web.Rejected(web.InvalidGrant("the refresh token was already used", err), "refresh_token_reused", c.ID, rotated.UserID,
			map[string]any{"family": rotated.FamilyID})
	case errors.Is(err, store.ErrNotFound):
		return nil, web.Rejected(web.InvalidGrant("the refresh token is revoked or expired", err), "refresh_token_revoked", c.ID, old.UserID,
			map[string]any{"family": old.FamilyID})
	case err != nil:
		return nil, err
	}
	signer, err := s.keys.Signer(ctx)
	if err != nil {
		return nil, err
	}
	// OIDC Core §12.2: same iss and sub, auth_time, acr and amr of the original
	// authentication, no nonce.
	res, cl, err := s.issueUserTokens(ctx, signer, c, token.AccessGrant{ClientID: c.ID, Subject: old.UserID, Audience: old.Audience,
		Scopes: scopes, GrantID: old.GrantID, SessionID: old.SessionID, AuthTime: old.AuthTime, ACR: old.ACR, AMR: old.AMR,
		Confirmation: token.ConfirmationFrom(ctx)}, acting, "", now)
	if err != nil {
		return nil, err
	}
	res.RefreshToken = next
	s.auditIssued(r, c.ID, registry.GrantRefreshToken, cl)
	if acting != nil {
		s.delegations.RecordUse(ctx, acting.d, c.ID, scopes)
	} else {
		s.touchConsent(r, old.UserID, c.ID, now)
	}
	return res, nil
}

// consentTouchEvery bounds the connected-app "last used" writes a refreshing
// client causes to one a minute per consent and replica: the account page shows
// the time to the minute at best.
const consentTouchEvery = time.Minute

// touchConsent records that the client used the person's consent now. A client
// without a consent row (first party) has nothing to touch, and a failed write
// costs only the "last used" time, so neither refuses the request.
func (s *Server) touchConsent(r *http.Request, userID, clientID string, now time.Time) {
	if ok, _ := s.consentTouches.Take(token.UserClientKey(userID, clientID), 1); !ok {
		return
	}
	if err := s.store.Consents().Touch(r.Context(), userID, clientID, now); err != nil && !isNotFound(err) {
		s.log.WarnContext(r.Context(), "consent last use not recorded", "request_id", web.RequestID(r.Context()), "error", err.Error())
	}
}
