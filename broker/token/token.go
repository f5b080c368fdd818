// Package token mints Gatehouse's tokens — RFC 9068 JWT access tokens, OIDC ID
// tokens and opaque refresh tokens — and decides what they may carry: the granted
// scope and the audience.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/keys"
)

// Token types in the JWS typ header (RFC 8725 §3.11).
const (
	TypeAccess = "at+jwt" // RFC 9068 §2.1
	TypeID     = "JWT"
)

// Audience is a JWT aud: one string when it has one member, an array otherwise
// (RFC 7519 §4.1.3).
type Audience []string

func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = Audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// Contains reports whether s is one of the audiences.
func (a Audience) Contains(s string) bool {
	for _, x := range a {
		if x == s {
			return true
		}
	}
	return false
}

// AccessClaims are the claims of an access token (RFC 9068 §2.2). Sub is the user,
// or the client itself for client_credentials (§2.2: no resource owner involved).
// Sid and Gid are Gatehouse's: the browser session and the grant (authorization)
// the token came from, so that ending either revokes the token at introspection.
// Idp is Gatehouse's too: the upstream provider of a token exchanged from an
// upstream ID token or assertion (RFC 8693), which has no session, so that
// disabling the provider revokes it.
type AccessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  Audience `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"` // never set by us; checked if present (RFC 7519 §4.1.5)
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	GrantID   string   `json:"gid,omitempty"`
	Act       *Actor   `json:"act,omitempty"`     // RFC 8693 §4.1
	MayAct    *Actor   `json:"may_act,omitempty"` // RFC 8693 §4.4; never set by Gatehouse yet
	Provider  string   `json:"idp,omitempty"`
	// DelegationID names the delegation a token acting for Subject was issued
	// under (with Act naming the delegate): ending it revokes the token.
	DelegationID string `json:"delegation_id,omitempty"`
	// Confirmation binds the token to a key (RFC 7800 §3.1): a DPoP key (RFC
	// 9449 §6.1) or a client certificate (RFC 8705 §3.1); nil for a bearer token.
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is the cnf claim of a bound access token (RFC 7800 §3.1).
type Confirmation struct {
	JKT     string `json:"jkt,omitempty"`      // RFC 9449 §6.1: SHA-256 JWK thumbprint of the DPoP key
	X5TS256 string `json:"x5t#S256,omitempty"` // RFC 8705 §3.1: SHA-256 thumbprint of the client certificate
}

// Actor is an RFC 8693 §4.1 act claim: the party acting for the token's subject.
// The outermost Actor is the current actor; a nested Act is a prior actor in the
// delegation chain (the service that called this one). Only the outermost act and
// the sub matter for access decisions: prior actors are informational (§4.1).
// As a may_act claim (§4.4) it names a party allowed to act for the subject.
type Actor struct {
	Subject string `json:"sub"`
	Issuer  string `json:"iss,omitempty"`
	Act     *Actor `json:"act,omitempty"`
}

// Depth is the length of the delegation chain: 0 for nil, 1 for one actor, one
// more for each nested prior actor.
func (a *Actor) Depth() int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
	}
	return n
}

// UserToken reports whether the token was issued for a user (not client_credentials).
func (c *AccessClaims) UserToken() bool { return c.GrantID != "" }

// RevokeAllKey is the revocation entry every access token is checked against: the
// restore watermark (DATA-12).
const RevokeAllKey = "all"

// RevocationKeys are the keys of store.Revocations that can revoke this token.
func (c *AccessClaims) RevocationKeys() []string {
	k := []string{"jti:" + c.ID, "client:" + c.ClientID, RevokeAllKey}
	if c.UserToken() {
		k = append(k, "grant:"+c.GrantID, "user:"+c.Subject, UserClientKey(c.Subject, c.ClientID))
	}
	if c.SessionID != "" {
		k = append(k, SessionRevocationKey(c.SessionID))
	}
	if c.Provider != "" {
		k = append(k, ProviderRevocationKey(c.Provider))
	}
	if c.DelegationID != "" {
		k = append(k, DelegationRevocationKey(c.DelegationID))
		if c.Act != nil && c.UserToken() {
			// A token acting for Subject is also its actor's use of the client:
			// the actor revoking their consent for the client ends it too.
			k = append(k, UserClientKey(c.Act.Subject, c.ClientID))
		}
	}
	return k
}

// SessionRevocationKey is the revocation key of every token issued under the
// browser session id: the session ending (logout, expiry, a cut-off) makes them
// inactive at introspection at once, on every replica.
func SessionRevocationKey(id string) string { return "session:" + id }

// DelegationRevocationKey is the revocation key of every token issued under the
// delegation id: ending the delegation makes them inactive at introspection at
// once, on every replica.
func DelegationRevocationKey(id string) string { return "delegation:" + id }

// ProviderRevocationKey is the revocation key of every token exchanged from the
// upstream provider id's tokens: cutting the provider off revokes them (they have
// no session to end).
func ProviderRevocationKey(id string) string { return "provider:" + id }

// NestActors returns a copy of the act chain outer with subs nested below its
// innermost actor, in order (RFC 8693 §4.1: the outermost act is the current
// actor, nested ones the prior actors).
func NestActors(outer *Actor, subs []string) *Actor {
	var nodes []Actor
	for a := outer; a != nil; a = a.Act {
		nodes = append(nodes, Actor{Subject: a.Subject, Issuer: a.Issuer})
	}
	for _, sub := range subs {
		nodes = append(nodes, Actor{Subject: sub})
	}
	var act *Actor
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		n.Act = act
		act = &n
	}
	return act
}

// KeyRevocationKey is the revocation key of every token signed with the signing key
// kid: a key revoked as compromised (SECURITY.md AS-JWT-04, AS-JWT-10). The kid is
// not a claim, so verifiers add it to RevocationKeys from the header they verified.
func KeyRevocationKey(kid string) string { return "kid:" + kid }

// UserClientKey is the revocation key of every token a client holds for a user
// (consent revocation). A space cannot occur in either ID.
func UserClientKey(userID, clientID string) string { return "user-client:" + userID + " " + clientID }

// IDClaims are the claims of an ID token (OIDC Core §2, §3.1.3.6).
type IDClaims struct {
	Issuer          string   `json:"iss"`
	Subject         string   `json:"sub"`
	Audience        Audience `json:"aud"`
	Expiry          int64    `json:"exp"`
	IssuedAt        int64    `json:"iat"`
	AuthTime        int64    `json:"auth_time,omitempty"`
	Nonce           string   `json:"nonce,omitempty"`
	AuthorizedParty string   `json:"azp,omitempty"`
	AccessTokenHash string   `json:"at_hash,omitempty"`
	ACR             string   `json:"acr,omitempty"`
	AMR             []string `json:"amr,omitempty"`
	SessionID       string   `json:"sid,omitempty"`
}

// SignAccess signs an access token.
func SignAccess(s *keys.Signer, c *AccessClaims) (string, error) { return s.Sign(c, TypeAccess) }

// SignID signs an ID token with the Signer whose algorithm the at_hash was
// computed for (OIDC Core §3.1.3.6): the client's registered ID-token algorithm.
func SignID(s *keys.Signer, c *IDClaims) (string, error) { return s.Sign(c, TypeID) }

// AccessTokenHash is the at_hash of accessToken for an ID token signed with alg
// (OIDC Core §3.1.3.6): the left half of the hash the JWS alg uses, base64url.
// EdDSA (Ed25519) hashes with SHA-512.
func AccessTokenHash(alg, accessToken string) string {
	var h hash.Hash
	switch alg {
	case "EdDSA", "ES512", "RS512", "PS512":
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// Random returns n bytes from crypto/rand, base64url-encoded without padding: every
// identifier and secret Gatehouse makes up is one of these.
func Random(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewID returns a random token identifier (jti, grant and family IDs): 128 bits.
func NewID() string { return Random(16) }

// NewOpaque returns a new opaque token (refresh token or authorization code) of 256
// random bits and the hash to store; the token itself is never stored (DATA-03).
func NewOpaque() (string, []byte) {
	t := Random(32)
	return t, Hash(t)
}

// Hash is the stored form of an opaque token: SHA-256 (256-bit random tokens need
// no stretching; ASVS 5 6.5.2).
func Hash(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// Unix is t in JWT NumericDate form; the zero time is 0 (claim omitted).
func Unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// LooksLikeJWT tells a compact JWS from an opaque token without parsing it.
func LooksLikeJWT(t string) bool { return strings.Count(t, ".") == 2 }
