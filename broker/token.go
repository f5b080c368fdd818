package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
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

// handleToken is the token endpoint (RFC 6749 §3.2): it authenticates the client,
// then hands the request to its grant.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) error {
	f, c, err := s.clientRequest(r)
	if err != nil {
		return err
	}
	gt := f.get("grant_type")
	var grant func(r *http.Request, c *store.Client, f form) (*tokenResponse, error)
	switch gt {
	case "":
		return invalidRequest("grant_type is required")
	case registry.GrantClientCredentials:
		grant = s.grantClientCredentials
	case registry.GrantAuthorizationCode:
		grant = s.grantAuthorizationCode
	case registry.GrantRefreshToken:
		grant = s.grantRefreshToken
	default:
		return oauthErr(http.StatusBadRequest, "unsupported_grant_type", "the grant type is not supported", nil)
	}
	// RFC 6749 §5.2 unauthorized_client; BCP §2.4 (AS-CODE-07).
	if !slices.Contains(c.GrantTypes, gt) {
		return unauthorizedClient("the client may not use this grant type")
	}
	res, err := grant(r, c, f)
	if err != nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	writeNoStoreJSON(w, http.StatusOK, b)
	return nil
}

// accessGrant is what an access token is minted from.
type accessGrant struct {
	client    *store.Client
	subject   string // user ID; "" for client_credentials (the client is the subject)
	audience  string // API audience; "" for none
	scopes    []string
	grantID   string
	sessionID string
	authTime  time.Time
	acr       string
	amr       []string
}

// mintAccess signs an access token for g with signer. A token that carries openid is
// also for Gatehouse's own UserInfo endpoint, so the issuer joins its audience.
func (s *Server) mintAccess(signer interface {
	Sign(claims any, typ string) (string, error)
}, g accessGrant, now time.Time) (string, *token.AccessClaims, time.Duration, error) {
	ttl := s.accessTTL(g.client)
	var aud token.Audience
	if g.audience != "" {
		aud = append(aud, g.audience)
	}
	if g.subject != "" && slices.Contains(g.scopes, "openid") {
		aud = append(aud, s.cfg.Issuer.String())
	}
	sub := g.subject
	if sub == "" {
		sub = g.client.ID
	}
	cl := &token.AccessClaims{
		Issuer: s.cfg.Issuer.String(), Subject: sub, Audience: aud,
		Expiry: now.Add(ttl).Unix(), IssuedAt: now.Unix(), ID: token.NewID(),
		ClientID: g.client.ID, Scope: token.FormatScope(g.scopes),
		AuthTime: token.Unix(g.authTime), ACR: g.acr, AMR: g.amr,
		SessionID: g.sessionID, GrantID: g.grantID,
	}
	tok, err := signer.Sign(cl, token.TypeAccess)
	return tok, cl, ttl, err
}

// accessTTL is the client's own access-token lifetime if it is shorter than the
// server's: the signing keys are kept published for the server's lifetime only.
func (s *Server) accessTTL(c *store.Client) time.Duration {
	if c.AccessTokenTTL > 0 && c.AccessTokenTTL < s.cfg.AccessTokenTTL {
		return c.AccessTokenTTL
	}
	return s.cfg.AccessTokenTTL
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
		return nil, invalidTarget("no resource was given and the client has no default API")
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
	at, cl, ttl, err := s.mintAccess(signer, accessGrant{client: c, audience: api.Audience, scopes: scopes}, now)
	if err != nil {
		return nil, err
	}
	s.auditIssued(r, c.ID, registry.GrantClientCredentials, cl)
	// RFC 6749 §4.4.3: no refresh token (AS-RT-08).
	return &tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second), Scope: cl.Scope}, nil
}

// targetAPI resolves the token's API from the resource parameter or the client's
// default (RFC 8707 §2); nil with no error means the client has no default API.
func (s *Server) targetAPI(ctx context.Context, c *store.Client, f form) (*store.API, error) {
	aud, err := token.SelectAudience(f.all("resource"), c)
	if err != nil {
		return nil, invalidTarget("the resource is not an API this client may use")
	}
	if aud == "" {
		return nil, nil
	}
	api, err := s.registry.api(ctx, aud)
	if err != nil {
		return nil, err
	}
	if api == nil {
		return nil, invalidTarget("the resource is not a registered API")
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
				return nil, invalidScope("the scope parameter is malformed")
			}
		}
	}
	granted := token.GrantScopes(req)
	if len(req.Requested) > 0 && len(granted) == 0 {
		return nil, invalidScope("none of the requested scopes may be granted")
	}
	return granted, nil
}

// auditIssued queues the issuance event for the next group commit: issuance is high
// volume and must not wait on a database write. Never the token itself (DATA-04).
func (s *Server) auditIssued(r *http.Request, clientID, grant string, cl *token.AccessClaims) {
	ri := infoFrom(r.Context())
	s.audit.Enqueue(audit.Event{
		Actor: "client:" + clientID, Action: "token.issued", Target: cl.Subject, IP: ri.IP, RequestID: ri.ID,
		Details: issuedDetails{Audience: cl.Audience, GrantType: grant, JTI: cl.ID, Scope: cl.Scope},
	})
}

// issuedDetails are the details of token.issued, in the key order a map would have.
type issuedDetails struct {
	Audience  []string `json:"aud"`
	GrantType string   `json:"grant_type"`
	JTI       string   `json:"jti"`
	Scope     string   `json:"scope"`
}

// auditSecurity records a refused attack synchronously (SECURITY.md: one audit line
// per security-relevant rejection).
func (s *Server) auditSecurity(r *http.Request, clientID, action, target string, details map[string]any) error {
	ri := infoFrom(r.Context())
	return s.audit.Record(r.Context(), audit.Event{
		Actor: "client:" + clientID, Action: action, Target: target, IP: ri.IP, RequestID: ri.ID, Details: details,
	})
}
