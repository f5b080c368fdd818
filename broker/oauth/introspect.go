package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
)

// inactive is the whole answer for any token that is not active, whatever the reason
// (RFC 7662 §2.2: no detail; AS-INT-03).
var inactive = []byte(`{"active":false}`)

// introspection is an active token's metadata (RFC 7662 §2.2).
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud,omitempty"`
	Issuer    string   `json:"iss"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	// Act is an exchanged token's actor chain (RFC 8693 §4.1, §2.2.1 via RFC 7662
	// §2.2's "other claims"): the acting party and, nested, the prior ones.
	Act *token.Actor `json:"act,omitempty"`
	// DelegationID names the delegation a token acting for sub was issued under.
	DelegationID string `json:"delegation_id,omitempty"`
	// Confirmation is a bound token's cnf (RFC 7800; RFC 9449 §6.2: jkt; RFC 8705
	// §3.2: x5t#S256), for the resource server to check the key or certificate.
	Confirmation *token.Confirmation `json:"cnf,omitempty"`
}

// HandleIntrospect is the introspection endpoint (RFC 7662). Only confidential
// clients may call it (§2.1, AS-INT-01), and a client learns only about tokens issued
// to it or meant for an API it is the registered resource server of; anything else
// is inactive (§4: no token scanning by whoever may merely ask for the API's tokens).
func (s *Server) HandleIntrospect(w http.ResponseWriter, r *http.Request) error {
	f, c, err := s.clientRequest(r)
	if err != nil {
		return err
	}
	if c.Public {
		return web.UnauthorizedClient("public clients cannot introspect tokens") // AS-CA-05
	}
	tok := f.get("token")
	if tok == "" {
		return web.InvalidRequest("token is required")
	}
	var info *introspection
	if token.LooksLikeJWT(tok) {
		info, err = s.introspectAccess(r.Context(), c, tok)
	} else {
		info, err = s.introspectRefresh(r.Context(), c, tok)
	}
	if err != nil {
		return err
	}
	if info == nil {
		web.WriteNoStoreJSON(w, http.StatusOK, inactive)
		return nil
	}
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	web.WriteNoStoreJSON(w, http.StatusOK, b)
	return nil
}

// introspectAccess reports on one of Gatehouse's access tokens (verifyAccessToken)
// to its client or to the registered resource server of an API in its aud
// (store.Client.ResourceServerFor, read with the cached client: no extra query).
// Being allowed to ask for tokens for an API is not enough. nil means inactive.
func (s *Server) introspectAccess(ctx context.Context, c *store.Client, tok string) (*introspection, error) {
	cl, err := s.verifyAccessToken(ctx, tok)
	if errors.Is(err, token.ErrInvalidAccess) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if cl.ClientID != c.ID && !slices.ContainsFunc(cl.Audience, func(a string) bool { return slices.Contains(c.ResourceServerFor, a) }) {
		return nil, nil
	}
	return &introspection{Active: true, Scope: cl.Scope, ClientID: cl.ClientID, Subject: cl.Subject,
		Audience: cl.Audience, Issuer: cl.Issuer, Expiry: cl.Expiry, IssuedAt: cl.IssuedAt, ID: cl.ID,
		TokenType: token.TokenType(&cl), AuthTime: cl.AuthTime, Act: cl.Act, DelegationID: cl.DelegationID,
		Confirmation: cl.Confirmation}, nil
}

// introspectRefresh reports on a refresh token, to the client it was issued to only.
func (s *Server) introspectRefresh(ctx context.Context, c *store.Client, tok string) (*introspection, error) {
	if len(tok) > 256 {
		return nil, nil
	}
	t, err := s.store.RefreshTokens().GetByHash(ctx, token.Hash(tok))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if t.ClientID != c.ID || !t.RotatedAt.IsZero() || !t.RevokedAt.IsZero() || !now.Before(t.ExpiresAt) {
		return nil, nil
	}
	st, err := s.store.Revocations().Standing(ctx, store.StandingOf{UserID: t.UserID, SessionID: t.SessionID,
		Keys: refreshRevocationKeys(t)})
	if err != nil || revokedSince(st, t.CreatedAt) || !st.UserActive || st.SessionEnded {
		return nil, err
	}
	var aud []string
	if t.Audience != "" {
		aud = []string{t.Audience}
	}
	info := &introspection{Active: true, Scope: token.FormatScope(t.Scopes), ClientID: t.ClientID, Subject: t.UserID,
		Audience: aud, Issuer: s.cfg.Issuer.String(), Expiry: t.ExpiresAt.Unix(), IssuedAt: t.CreatedAt.Unix(),
		TokenType: "refresh_token", AuthTime: token.Unix(t.AuthTime)}
	if t.X5TS256 != "" {
		info.Confirmation = &token.Confirmation{X5TS256: t.X5TS256} // RFC 8705 §4
	}
	if t.DelegationID != "" {
		// A refresh token acting for someone is reported as its access tokens
		// are: sub the grantor, act the delegate (RFC 8693 §4.1); it is inactive
		// once the delegation has ended or expired (a refresh would be refused).
		d, err := s.store.Delegations().Get(ctx, t.DelegationID)
		if isNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if st := d.Status(now, 0); st != store.DelegationActive && st != store.DelegationExpiringSoon {
			return nil, nil
		}
		lineage, err := s.delegations.Lineage(ctx, d, s.cfg.ExchangeMaxActorDepth)
		if errors.Is(err, delegate.ErrUnusable) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		info.Subject, info.Act, info.DelegationID = lineage.Root, token.NestActors(nil, lineage.Actors(t.UserID)), d.ID
	}
	return info, nil
}

// HandleRevoke is the revocation endpoint (RFC 7009). It answers 200 whatever the
// token was — unknown, malformed, another client's, already revoked — so it is no
// oracle (§2.2, AS-REV-03); token_type_hint is only a hint (§2.1) and an unknown
// one is ignored. A refresh token takes its family and its grant's access tokens
// with it (AS-REV-02); an access token is put on the revocation list until it
// expires.
func (s *Server) HandleRevoke(w http.ResponseWriter, r *http.Request) error {
	f, c, err := s.clientRequest(r)
	if err != nil {
		return err
	}
	tok := f.get("token")
	if tok == "" {
		return web.InvalidRequest("token is required")
	}
	ctx := r.Context()
	now := s.Now()
	var revoked string
	if token.LooksLikeJWT(tok) {
		var cl token.AccessClaims
		if s.keys.Verify(ctx, tok, token.TypeAccess, &cl) == nil && cl.ClientID == c.ID && cl.ID != "" {
			exp := time.Unix(cl.Expiry, 0)
			if err := s.store.Revocations().Revoke(ctx, exp.Add(time.Second), exp, "jti:"+cl.ID); err != nil {
				return err
			}
			revoked = "jti:" + cl.ID
		}
	} else if len(tok) <= 256 {
		t, err := s.store.RefreshTokens().GetByHash(ctx, token.Hash(tok))
		switch {
		case err == nil && t.ClientID == c.ID:
			if err := s.revokeGrant(ctx, t.GrantID, now); err != nil { // the family with its grant
				return err
			}
			revoked = "family:" + t.FamilyID
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	if revoked != "" {
		ri := web.InfoFrom(ctx)
		s.audit.Enqueue(audit.Event{Actor: "client:" + c.ID, Action: "token.revoked", Target: revoked, IP: ri.IP, RequestID: ri.ID})
	}
	web.WriteNoStoreJSON(w, http.StatusOK, []byte("{}"))
	return nil
}

// verifyAccessToken is token.Verifier's check, the one both the OAuth server and
// token exchange use.
func (s *Server) verifyAccessToken(ctx context.Context, tok string) (token.AccessClaims, error) {
	return s.verifier.Verify(ctx, tok)
}
