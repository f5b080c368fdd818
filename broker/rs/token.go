package rs

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Token is an access token Require accepted.
type Token struct {
	// Raw is the token as presented.
	Raw string
	// Scheme is how it was presented: "Bearer" or "DPoP".
	Scheme string
	// Subject is the user, or the client itself for a client_credentials token
	// (RFC 9068 §2.2).
	Subject  string
	ClientID string
	Issuer   string
	Audience []string
	Scopes   []string
	ID       string // jti
	Expiry   time.Time
	IssuedAt time.Time
	// Act is the acting party of a token obtained by token exchange: the
	// outermost actor is the current one, nested ones prior actors (RFC 8693
	// §4.1). nil when the subject acts itself.
	Act *Actor
	// Confirmation is the key or certificate the token is bound to (RFC 7800
	// cnf), already checked against this request; nil for a bearer token.
	Confirmation *Confirmation
	// Claims are all the claims, as encoding/json decodes them into any.
	Claims map[string]any
}

// HasScope reports whether the token carries scope s.
func (t *Token) HasScope(s string) bool {
	for _, x := range t.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// Actor is an RFC 8693 §4.1 act claim.
type Actor struct {
	Subject string `json:"sub"`
	Issuer  string `json:"iss,omitempty"`
	Act     *Actor `json:"act,omitempty"`
}

// Confirmation is the cnf claim (RFC 7800 §3.1): the thumbprint of the DPoP key
// (RFC 9449 §6.1) or of the client certificate (RFC 8705 §3.1) the token is
// bound to.
type Confirmation struct {
	JKT     string `json:"jkt,omitempty"`
	X5TS256 string `json:"x5t#S256,omitempty"`
}

// MaxTokenSize bounds a presented token before any parsing (SECURITY.md
// AS-JWT-12): Gatehouse's are well under 2 KiB.
const MaxTokenSize = 8 << 10

// claims are the RFC 9068 §2.2 claims the verifier checks.
type claims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Audience  json.RawMessage `json:"aud"`
	Expiry    *int64          `json:"exp"`
	IssuedAt  *int64          `json:"iat"`
	NotBefore *int64          `json:"nbf"`
	ID        string          `json:"jti"`
	ClientID  string          `json:"client_id"`
	Scope     string          `json:"scope"`
	Act       *Actor          `json:"act"`
	Cnf       *Confirmation   `json:"cnf"`
}

// Authenticate checks the request's access token and its binding, and returns
// it; an *Error says how to answer otherwise. Require calls it; use it directly
// for a decision Require cannot express.
func (v *Verifier) Authenticate(r *http.Request) (*Token, error) {
	scheme, raw, err := credentials(r)
	if err != nil {
		return nil, err
	}
	tok, err := v.Verify(r.Context(), raw)
	if err != nil {
		var e *Error
		if asError(err, &e) {
			e.Scheme = scheme
		}
		return nil, err
	}
	tok.Scheme = scheme
	if err := v.checkBinding(r, tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// credentials returns the scheme and token of the Authorization header (RFC 6750
// §2.1, RFC 9449 §7.1). A token in the query or a form (RFC 6750 §2.2, §2.3) is
// refused: Gatehouse's clients never need it, and URLs are logged.
func credentials(r *http.Request) (scheme, tok string, err error) {
	hs := r.Header.Values("Authorization")
	if r.URL.Query().Has("access_token") {
		return "", "", &Error{Status: http.StatusBadRequest, Code: "invalid_request",
			Description: "send the access token in the Authorization header"}
	}
	if len(hs) == 0 {
		return "", "", &Error{Status: http.StatusUnauthorized}
	}
	if len(hs) > 1 {
		return "", "", &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one Authorization header"}
	}
	s, t, ok := strings.Cut(hs[0], " ")
	switch {
	case strings.EqualFold(s, "Bearer"):
		scheme = "Bearer"
	case strings.EqualFold(s, "DPoP"):
		scheme = "DPoP"
	default:
		// Another scheme (Basic, …) carries no token of ours: a challenge
		// without an error code (RFC 6750 §3.1).
		return "", "", &Error{Status: http.StatusUnauthorized}
	}
	t = strings.TrimLeft(t, " ")
	if !ok || t == "" || !isToken68(t) {
		return "", "", &Error{Status: http.StatusBadRequest, Code: "invalid_request", Scheme: scheme,
			Description: "the Authorization header is malformed"}
	}
	if len(t) > MaxTokenSize {
		return "", "", &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Scheme: scheme, Description: "the token is too large"}
	}
	return scheme, t, nil
}

// isToken68 is the RFC 9110 §11.2 token68 syntax of b64token (RFC 6750 §2.1).
func isToken68(s string) bool {
	end := len(s)
	for end > 0 && s[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

// Verify checks raw as a Gatehouse access token for this API (RFC 9068 §4) and
// returns it, without looking at how it was presented: its binding (cnf) is
// the caller's to check. Errors are *Error with invalid_token.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Token, error) {
	bad := func(desc string) error {
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc}
	}
	if len(raw) > MaxTokenSize || strings.Count(raw, ".") != 2 {
		return nil, bad("the token is not a signed JWT")
	}
	// RFC 8725 §3.1: only the configured asymmetric algorithms parse at all, so
	// none and HS256-with-the-public-key never reach a key.
	jws, err := jose.ParseSignedCompact(raw, joseAlgs(v.cfg.Algorithms))
	if err != nil || len(jws.Signatures) != 1 {
		return nil, bad("the token is not a signed JWT of an accepted algorithm")
	}
	h := jws.Signatures[0].Protected
	// RFC 9068 §4 step 2, RFC 8725 §3.11: an ID token or any other JWT signed
	// by the same keys is not an access token.
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, bad("the token is not an access token (typ)")
	}
	// Keys come from the issuer's JWKS only, never from the token's own jwk,
	// jku, x5u or x5c headers (RFC 8725 §3.10).
	key, err := v.keys.key(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, bad("the token is not signed by a key of the issuer")
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, bad("the token's signature is invalid")
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, bad("the token's claims are malformed")
	}
	var all map[string]any
	d := json.NewDecoder(bytes.NewReader(payload))
	if err := d.Decode(&all); err != nil {
		return nil, bad("the token's claims are malformed")
	}
	aud, ok := audience(c.Audience)
	now, leeway := v.cfg.Now(), v.cfg.Leeway
	switch {
	case c.Issuer != v.cfg.Issuer:
		return nil, bad("the token is from another issuer")
	case !ok || !contains(aud, v.cfg.Audience):
		return nil, bad("the token is for another audience")
	case c.Expiry == nil || c.IssuedAt == nil || c.ID == "" || c.Subject == "" || c.ClientID == "":
		return nil, bad("the token lacks a required claim")
	case !now.Before(time.Unix(*c.Expiry, 0).Add(leeway)):
		return nil, bad("the token has expired")
	case time.Unix(*c.IssuedAt, 0).After(now.Add(leeway)), c.NotBefore != nil && time.Unix(*c.NotBefore, 0).After(now.Add(leeway)):
		return nil, bad("the token is not valid yet")
	}
	tok := &Token{Raw: raw, Subject: c.Subject, ClientID: c.ClientID, Issuer: c.Issuer, Audience: aud,
		Scopes: strings.Fields(c.Scope), ID: c.ID, Expiry: time.Unix(*c.Expiry, 0), IssuedAt: time.Unix(*c.IssuedAt, 0),
		Act: c.Act, Claims: all}
	if c.Cnf != nil && (c.Cnf.JKT != "" || c.Cnf.X5TS256 != "") {
		tok.Confirmation = c.Cnf
	}
	return tok, nil
}

// audience decodes aud: one string or an array of strings (RFC 7519 §4.1.3).
func audience(raw json.RawMessage) ([]string, bool) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many, true
	}
	return nil, false
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func joseAlgs(algs []string) []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}
