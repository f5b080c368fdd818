package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse/broker/dpop"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
)

// bearerError is a protected-resource error (RFC 6750 §3.1), sent in
// WWW-Authenticate. Description is fixed text, never input.
type bearerError struct {
	Status      int
	Code        string // "" when the request carried no token at all (§3.1)
	Description string
	// DPoP answers with the DPoP scheme's challenge (RFC 9449 §7.1): the token
	// is DPoP-bound or was presented as one. Nonce adds a fresh DPoP-Nonce (§9).
	DPoP  bool
	Nonce bool
}

func (e *bearerError) Error() string { return "bearer: " + e.Code + ": " + e.Description }

var (
	errNoBearer = &bearerError{Status: http.StatusUnauthorized}
	errBadToken = &bearerError{Status: http.StatusUnauthorized, Code: "invalid_token",
		Description: "the access token is invalid, expired or revoked"}
)

// HandleUserInfo is the OIDC UserInfo endpoint (Core §5.3), GET and POST, with the
// access token in the Authorization header only (RFC 6750 §2.1; a token in the
// query is refused, AS-JWT-08). The token must be Gatehouse's own access token
// (RFC 9068: signature, typ at+jwt), unexpired, unrevoked, meant for Gatehouse
// (AS-DEL-06) and carry openid. Claims follow the granted scopes (Core §5.4). A
// token acting for someone answers with that person's sub and the act claim.
func (s *Server) HandleUserInfo(w http.ResponseWriter, r *http.Request) {
	claims, err := s.userInfo(r)
	if err != nil {
		be, ok := err.(*bearerError)
		if !ok {
			s.log.ErrorContext(r.Context(), "userinfo failed", "request_id", web.RequestID(r.Context()), "error", err.Error())
			web.WriteNoStoreJSON(w, http.StatusInternalServerError, []byte(`{"error":"server_error"}`))
			return
		}
		h := `Bearer realm="gatehouse"`
		if be.Code != "" {
			h += `, error="` + be.Code + `", error_description="` + be.Description + `"`
			s.log.WarnContext(r.Context(), "userinfo refused", "request_id", web.RequestID(r.Context()), "error", be.Code)
		}
		switch {
		case be.DPoP:
			h = dpop.Challenge(be.Code, be.Description)
		case be.Code == "":
			// RFC 9449 §7.2: no token at all; either scheme will do.
			h += ", " + dpop.Challenge("", "")
		}
		if be.Nonce && s.dpopGuard.Nonces != nil {
			w.Header().Set(dpop.NonceHeader, s.dpopGuard.Nonces.Issue(s.Now()))
		}
		w.Header().Set("WWW-Authenticate", h)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(be.Status)
		return
	}
	b, err := json.Marshal(claims)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	web.WriteNoStoreJSON(w, http.StatusOK, b)
}

func (s *Server) userInfo(r *http.Request) (map[string]any, error) {
	if r.URL.Query().Has("access_token") {
		return nil, &bearerError{Status: http.StatusBadRequest, Code: "invalid_request",
			Description: "send the access token in the Authorization header"}
	}
	if len(r.Header.Values("Authorization")) > 1 {
		// RFC 6750 §3.1: more than one way of sending the token (here, two tokens).
		return nil, &bearerError{Status: http.StatusBadRequest, Code: "invalid_request",
			Description: "send one Authorization header"}
	}
	if r.Header.Get("Authorization") == "" {
		return nil, errNoBearer
	}
	scheme, tok, ok := dpop.Authorization(r.Header)
	if !ok {
		return nil, &bearerError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the Authorization header is malformed"}
	}
	ctx := r.Context()
	cl, err := s.verifyAccessToken(ctx, tok)
	if errors.Is(err, token.ErrInvalidAccess) {
		if scheme == dpop.SchemeDPoP {
			return nil, &bearerError{Status: errBadToken.Status, Code: errBadToken.Code, Description: errBadToken.Description, DPoP: true}
		}
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	if err := s.checkTokenProof(r, scheme, tok, &cl, s.endpointURL(r, "/oauth2/userinfo")); err != nil {
		return nil, err
	}
	if err := s.checkCertificateBinding(r, &cl); err != nil {
		return nil, err
	}
	// Only a user's token meant for Gatehouse itself (AS-DEL-06).
	if cl.Subject == "" || !cl.UserToken() || !cl.Audience.Contains(s.cfg.Issuer.String()) {
		return nil, errBadToken
	}
	scopes := token.ParseScope(cl.Scope)
	if !slices.Contains(scopes, "openid") {
		return nil, &bearerError{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the token lacks the openid scope"}
	}
	// Belt and braces behind the revocation list verifyAccessToken checked: not
	// for a disabled person, or a session that ended or whose provider is
	// disabled or removed.
	st, err := s.store.Revocations().Standing(ctx, store.StandingOf{UserID: cl.Subject, SessionID: cl.SessionID})
	if err != nil {
		return nil, err
	}
	if !st.UserActive || st.SessionEnded {
		return nil, errBadToken
	}
	u, err := s.store.Users().Get(ctx, cl.Subject)
	if err != nil {
		if !isNotFound(err) {
			return nil, err
		}
		return nil, errBadToken
	}
	out := map[string]any{"sub": u.ID}
	if cl.DelegationID != "" && cl.Act != nil {
		// A token acting for sub (issue 11): the claims are the grantor's, with
		// the acting party (RFC 8693 §4.1). Such a token never carries profile or
		// email (delegatedIdentityScopes): the grantor's personal data is not
		// released to the delegate's application.
		out["act"] = cl.Act
	}
	if slices.Contains(scopes, "profile") && u.Name != "" {
		out["name"] = u.Name
	}
	if slices.Contains(scopes, "email") && u.Email != "" {
		out["email"] = u.Email
		out["email_verified"] = u.EmailVerified
	}
	return out, nil
}
