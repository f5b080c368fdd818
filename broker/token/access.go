package token

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// AccessGrant is what an access token is minted from, whichever grant issued it.
type AccessGrant struct {
	ClientID string
	// Subject is the user ID; "" when the client itself is the subject
	// (client_credentials, RFC 9068 §2.2).
	Subject  string
	Audience string // the API's audience; "" for none
	Scopes   []string
	GrantID  string
	// SessionID is the browser session the token came from; "" for none.
	SessionID string
	AuthTime  time.Time
	ACR       string
	AMR       []string
	// Act is the acting party of an exchanged token (RFC 8693 §4.1); nil for none.
	Act *Actor
	// Provider is the upstream provider of a token exchanged from its ID token or
	// assertion; "" for none.
	Provider string
	// Confirmation binds the token to a key, emitted as its cnf claim (RFC
	// 7800); nil for a bearer token.
	Confirmation *Confirmation
}

// NewAccess builds the claims of an access token issued by issuer for g at now,
// valid for ttl. A token that carries openid for a user is also for Gatehouse's
// own UserInfo endpoint (OIDC Core §5.3), so the issuer joins its audience.
func NewAccess(issuer string, g AccessGrant, now time.Time, ttl time.Duration) *AccessClaims {
	var aud Audience
	if g.Audience != "" {
		aud = append(aud, g.Audience)
	}
	if g.Subject != "" && slices.Contains(g.Scopes, "openid") {
		aud = append(aud, issuer)
	}
	sub := g.Subject
	if sub == "" {
		sub = g.ClientID
	}
	return &AccessClaims{
		Issuer: issuer, Subject: sub, Audience: aud,
		Expiry: now.Add(ttl).Unix(), IssuedAt: now.Unix(), ID: NewID(),
		ClientID: g.ClientID, Scope: FormatScope(g.Scopes),
		AuthTime: Unix(g.AuthTime), ACR: g.ACR, AMR: g.AMR,
		SessionID: g.SessionID, GrantID: g.GrantID, Act: g.Act, Provider: g.Provider,
		Confirmation: g.Confirmation,
	}
}

// AccessTTL is the lifetime of c's access tokens: its own if it is shorter than
// the server's serverTTL, which bounds them all because the signing keys are
// kept published for the server's lifetime only.
func AccessTTL(c *store.Client, serverTTL time.Duration) time.Duration {
	if c.AccessTokenTTL > 0 && c.AccessTokenTTL < serverTTL {
		return c.AccessTokenTTL
	}
	return serverTTL
}

type confirmationKey struct{}

// WithConfirmation is ctx carrying the key a token request proved possession
// of (a DPoP proof, RFC 9449 §5; a client certificate, RFC 8705 §3): every
// grant, token exchange included, binds the access token it issues to it.
func WithConfirmation(ctx context.Context, c *Confirmation) context.Context {
	return context.WithValue(ctx, confirmationKey{}, c)
}

// ConfirmationFrom is the key WithConfirmation put in ctx; nil for none.
func ConfirmationFrom(ctx context.Context) *Confirmation {
	c, _ := ctx.Value(confirmationKey{}).(*Confirmation)
	return c
}

// TokenType is the token_type of a token response for cl (RFC 6749 §7.1):
// DPoP for a DPoP-bound token (RFC 9449 §5), Bearer otherwise (a
// certificate-bound token stays Bearer, RFC 8705 §3).
func TokenType(cl *AccessClaims) string {
	if cl.Confirmation != nil && cl.Confirmation.JKT != "" {
		return "DPoP"
	}
	return "Bearer"
}
