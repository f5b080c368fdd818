package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/gatehouse/gatehouse/providers"
)

// VerifyToken implements providers.TokenVerifier for an ID token presented
// directly (RFC 8693 subject_token_type id_token). It is verified as at a
// sign-in, except that aud must name one of tp.Audiences (and azp, if
// present, too) rather than our client ID, and there is no nonce. Refusals
// wrap providers.ErrInvalidResponse (RFC 8693 §2.2.2 invalid_grant).
func (p *Provider) VerifyToken(ctx context.Context, tp providers.TokenParams) (providers.Identity, error) {
	if len(tp.Audiences) == 0 {
		// Nothing can be accepted: refuse before any parsing or fetching.
		return providers.Identity{}, providers.Invalid("no audience allowed for exchange")
	}
	d, err := p.discovery(ctx)
	if err != nil {
		return providers.Identity{}, err
	}
	idt, err := p.verify(ctx, d, tp.Token, "", tp.Audiences)
	if err != nil {
		return providers.Identity{}, err
	}
	id, err := p.identity(idt.claims, tp.Token)
	if err != nil {
		return providers.Identity{}, err
	}
	// No session comes of an exchange, so nothing to log out of; the token
	// is not kept with the Identity.
	id.LogoutState = nil
	if tp.OneTime {
		id.ReplayKeys = []providers.ReplayKey{p.replayKey(idt)}
	}
	return id, nil
}

// maxRawJTI bounds a jti used as is in a replay key; a longer one, or one
// with bytes outside printable ASCII (PostgreSQL text refuses NUL), is hashed.
const maxRawJTI = 128

// replayKey names a verified ID token for one-time use (AS-TX-04, OIDC Core
// §16.9): under "oidc:<provider>:", which no SAML key ("saml:<provider>:")
// or broker key ("flow:", "consent:", "client_assertion:") starts with, its
// jti (RFC 7519 §4.1.7), else the SHA-256 of its signed payload. Not of the
// compact token: base64url with non-zero padding bits and, for ECDSA, the
// signature (r, n−s) give other strings for the same signed token. It
// expires once verify no longer accepts the token: up to exp + skew
// inclusive, while the store holds a key until strictly before ExpiresAt.
func (p *Provider) replayKey(idt *idToken) providers.ReplayKey {
	prefix := "oidc:" + p.cfg.ID + ":"
	var key string
	if jti, _ := idt.claims["jti"].(string); jti != "" {
		if len(jti) <= maxRawJTI && printableASCII(jti) {
			key = prefix + "jti:" + jti
		} else {
			sum := sha256.Sum256([]byte(jti))
			key = prefix + "jti-sha256:" + hex.EncodeToString(sum[:])
		}
	} else {
		// The payload bytes the signature covers.
		sum := sha256.Sum256(idt.payload)
		key = prefix + "sha256:" + hex.EncodeToString(sum[:])
	}
	return providers.ReplayKey{Key: key, ExpiresAt: idt.exp.Add(p.cfg.ClockSkew + time.Second).UTC()}
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
