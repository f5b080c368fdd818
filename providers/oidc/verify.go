package oidc

import (
	"context"
	"crypto/subtle"
	"slices"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse/gatehouse/providers"
)

// maxIDTokenLen bounds an ID token before any parsing.
const maxIDTokenLen = 64 << 10

// verify checks an ID token: go-oidc does signature (with the alg allowlist),
// iss and exp (OIDC Core §3.1.3.7 steps 2, 6–9), and aud when v is the login
// verifier; this adds what it leaves to the caller: aud against audiences
// (step 3; the exchange verifier leaves it all to us), azp (steps 4–5), iat
// (step 10), nbf, sub, and the nonce (step 11) when wantNonce is not empty.
// A sign-in passes the login verifier and our client ID as the only
// audience; an exchange, the exchange verifier and the admin's list.
func (p *Provider) verify(ctx context.Context, v *gooidc.IDTokenVerifier, raw, wantNonce string, audiences []string) (*gooidc.IDToken, map[string]any, error) {
	if len(raw) > maxIDTokenLen {
		return nil, nil, providers.Invalid("id token too long")
	}
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, nil, providers.Invalid("id token: %v", err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, nil, providers.Invalid("id token claims: %v", err)
	}
	now, skew := p.cfg.Now(), p.cfg.ClockSkew
	if wantNonce != "" && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(wantNonce)) != 1 {
		return nil, nil, providers.Invalid("nonce mismatch")
	}
	if idt.IssuedAt.IsZero() {
		return nil, nil, providers.Invalid("id token has no iat")
	}
	if idt.IssuedAt.After(now.Add(skew)) {
		return nil, nil, providers.Invalid("id token iat in the future")
	}
	if nbf, ok := claims["nbf"].(float64); ok && time.Unix(int64(nbf), 0).After(now.Add(skew)) {
		return nil, nil, providers.Invalid("id token not yet valid")
	}
	if !slices.ContainsFunc(idt.Audience, func(a string) bool { return slices.Contains(audiences, a) }) {
		return nil, nil, providers.Invalid("id token aud %q has no allowed audience", idt.Audience)
	}
	rawAzp, hasAzp := claims["azp"]
	if len(idt.Audience) > 1 && !hasAzp {
		return nil, nil, providers.Invalid("id token has several audiences and no azp")
	}
	if azp, ok := rawAzp.(string); hasAzp && (!ok || !slices.Contains(audiences, azp)) {
		return nil, nil, providers.Invalid("id token azp %v is not an allowed audience", rawAzp)
	}
	if idt.Subject == "" {
		return nil, nil, providers.Invalid("id token has no sub")
	}
	return idt, claims, nil
}

// identity maps verified claims to an Identity.
func (p *Provider) identity(claims map[string]any, rawIDToken string) (providers.Identity, error) {
	id, err := p.cfg.Mapping.Apply(p.cfg.ID, claims)
	if err != nil {
		return providers.Identity{}, err
	}
	if at, ok := claims["auth_time"].(float64); ok {
		id.AuthTime = time.Unix(int64(at), 0).UTC()
	}
	if amr, ok := claims["amr"].([]any); ok {
		for _, v := range amr {
			if s, ok := v.(string); ok {
				id.AMR = append(id.AMR, s)
			}
		}
	}
	id.ACR, _ = claims["acr"].(string)
	id.LogoutState = []byte(rawIDToken)
	return id, nil
}
