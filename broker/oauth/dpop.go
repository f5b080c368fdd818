package oauth

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/broker/dpop"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
)

// bindDPoP is the DPoP part of every token request (RFC 9449 §5), whatever
// the grant: a proof in the DPoP header is checked (htm POST, htu the token
// endpoint as discovery advertises it, nonce when required, jti once across
// replicas) and the request's context then carries its key
// (token.WithConfirmation), which the grant binds the access token to. A
// request without a proof goes on unchanged, unless the client registered
// dpop_bound_access_tokens (§5.2). A refusal is 400 invalid_dpop_proof, or
// use_dpop_nonce with a fresh DPoP-Nonce (§8); nothing is issued then, and a
// code or refresh token in the request is not spent.
func (s *Server) bindDPoP(w http.ResponseWriter, r *http.Request, c *store.Client) (*http.Request, error) {
	now := s.Now()
	if s.dpopGuard.Nonces != nil {
		// §8.2: a fresh nonce on every response while nonces are on.
		w.Header().Set(dpop.NonceHeader, s.dpopGuard.Nonces.Issue(now))
	}
	header, present, err := dpop.FromHeader(r.Header)
	if err == nil && !present {
		if c.DPoPBoundAccessTokens {
			return nil, web.Rejected(web.OAuthErr(http.StatusBadRequest, "invalid_dpop_proof",
				"this client must send a DPoP proof with every token request", nil), "dpop_required", c.ID, "", nil)
		}
		return r, nil
	}
	var p *dpop.Proof
	if err == nil {
		p, err = s.dpopGuard.Check(r.Context(), header, dpop.Check{Method: http.MethodPost, URL: s.endpointURL(r, "/oauth2/token"), Now: now})
	}
	var pe *dpop.ProofError
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return nil, web.Rejected(web.OAuthErr(http.StatusBadRequest, "use_dpop_nonce",
			"the DPoP proof must carry the nonce in the DPoP-Nonce header", err), "dpop_nonce", c.ID, "", nil)
	case errors.As(err, &pe):
		// The reason is fixed text naming the check (dpop.ProofError), never the proof.
		return nil, web.Rejected(web.OAuthErr(http.StatusBadRequest, "invalid_dpop_proof", pe.Error(), err), "dpop_invalid",
			c.ID, "", map[string]any{"check": pe.Reason})
	case err != nil:
		return nil, err
	}
	// Keep a binding another mechanism put there (a client certificate's
	// x5t#S256, RFC 8705 §3): a token may be bound both ways.
	cnf := token.Confirmation{JKT: p.JKT}
	if prior := token.ConfirmationFrom(r.Context()); prior != nil {
		cnf.X5TS256 = prior.X5TS256
	}
	return r.WithContext(token.WithConfirmation(r.Context(), &cnf)), nil
}

// dpopJKT is the thumbprint of the key the token request proved (bindDPoP);
// "" when it sent no proof.
func dpopJKT(r *http.Request) string {
	if c := token.ConfirmationFrom(r.Context()); c != nil {
		return c.JKT
	}
	return ""
}

// dpopMismatch refuses a grant bound to a DPoP key (a code's dpop_jkt, RFC 9449
// §10; a public client's refresh token, §5) that the request's proof is not
// by; "" when it is.
func dpopMismatch(r *http.Request, bound string) string {
	if bound == "" || dpopJKT(r) == bound {
		return ""
	}
	if dpopJKT(r) == "" {
		return "a DPoP proof by the key this grant is bound to is required"
	}
	return "the DPoP proof is not by the key this grant is bound to"
}

// refreshBinding is the key a new refresh family is bound to: a public
// client's DPoP key when it sent a proof. A confidential client's refresh
// token is bound to its client authentication instead (RFC 9449 §5).
func refreshBinding(r *http.Request, c *store.Client) string {
	if !c.Public {
		return ""
	}
	return dpopJKT(r)
}

// checkTokenProof enforces a token's DPoP binding at one of Gatehouse's own
// protected resources (RFC 9449 §7.1), reached at url: a DPoP-bound token
// needs the DPoP scheme and a proof by its key for this request, with ath; a
// bound token presented as Bearer is refused, and so is a bearer token
// presented as DPoP (§7.1: the scheme says what the token is).
func (s *Server) checkTokenProof(r *http.Request, scheme dpop.Scheme, tok string, cl *token.AccessClaims, url string) error {
	bound := cl.Confirmation != nil && cl.Confirmation.JKT != ""
	refuse := func(code, desc string, nonce bool) error {
		status := http.StatusUnauthorized
		if code == "invalid_request" {
			status = http.StatusBadRequest
		}
		return &bearerError{Status: status, Code: code, Description: desc, DPoP: true, Nonce: nonce}
	}
	switch {
	case bound && scheme != dpop.SchemeDPoP:
		return refuse("invalid_token", "the access token is DPoP-bound: present it with the DPoP scheme and a proof", false)
	case !bound && scheme == dpop.SchemeDPoP:
		return refuse("invalid_token", "the access token is not DPoP-bound", false)
	case !bound:
		return nil
	}
	header, present, err := dpop.FromHeader(r.Header)
	if err == nil && !present {
		return refuse("invalid_dpop_proof", "a DPoP proof is required", false)
	}
	var p *dpop.Proof
	if err == nil {
		p, err = s.dpopGuard.Check(r.Context(), header, dpop.Check{Method: r.Method, URL: url, AccessToken: tok, Now: s.Now()})
	}
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return refuse("use_dpop_nonce", "the DPoP proof must carry the nonce in the DPoP-Nonce header", true)
	case errors.Is(err, dpop.ErrInvalidProof):
		return refuse("invalid_dpop_proof", "the DPoP proof is invalid", false)
	case err != nil:
		return err
	case p.JKT != cl.Confirmation.JKT:
		return refuse("invalid_dpop_proof", "the DPoP proof is not by the key the access token is bound to", false)
	}
	return nil
}
