package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"hash"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/providers"
)

// maxIDTokenLen bounds an ID token before any parsing.
const maxIDTokenLen = 64 << 10

// idToken is an ID token whose signature and claims verify checked: the
// claims decoded once, the fields the checks and callers use read from them.
type idToken struct {
	alg     jose.SignatureAlgorithm
	payload []byte // the signed bytes, for the one-time key without jti
	claims  map[string]any
	sub     string
	exp     time.Time
	nonce   string
	atHash  string
}

// verify checks an ID token in one pass (OIDC Core §3.1.3.7): the compact
// JWS is parsed once with the provider's algorithm allowlist (step 6–8; no
// "none", no HS*: asymmetricAlgs), its signature verified with the
// discovered JWKS before any claim is read (SECURITY.md DEP-04), then the
// payload decoded once and iss (step 2), aud against audiences (step 3: our
// client ID at a sign-in, the admin's list for an exchange), azp (4–5), exp
// (9) and iat (10) with the clock skew, nbf, sub, and the nonce (11) when
// wantNonce is not empty. go-oidc's IDTokenVerifier did the signature, iss
// and exp, but parsed the JWS twice (a custom KeySet gets only the string)
// and the claims three times — a third of the CPU of a token exchange.
func (p *Provider) verify(ctx context.Context, d *discovered, raw, wantNonce string, audiences []string) (*idToken, error) {
	if len(raw) > maxIDTokenLen {
		return nil, providers.Invalid("id token too long")
	}
	jws, err := jose.ParseSignedCompact(raw, d.algs)
	if err != nil {
		return nil, providers.Invalid("id token: malformed jwt: %v", err)
	}
	payload, err := d.keys.verify(ctx, jws)
	if err != nil {
		return nil, providers.Invalid("id token: signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, providers.Invalid("id token claims: %v", err)
	}
	t := &idToken{alg: jose.SignatureAlgorithm(jws.Signatures[0].Header.Algorithm), payload: payload, claims: claims}
	iss, err := stringClaim(claims, "iss")
	if err != nil {
		return nil, err
	}
	if iss != p.cfg.Issuer && !googleIssuer(p.cfg.Issuer, iss) {
		return nil, providers.Invalid("id token issued by %q, not %q", iss, p.cfg.Issuer)
	}
	aud, err := audienceClaim(claims["aud"])
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(audiences, a) }) {
		return nil, providers.Invalid("id token aud %q has no allowed audience", aud)
	}
	rawAzp, hasAzp := claims["azp"]
	if len(aud) > 1 && !hasAzp {
		return nil, providers.Invalid("id token has several audiences and no azp")
	}
	if azp, ok := rawAzp.(string); hasAzp && (!ok || !slices.Contains(audiences, azp)) {
		return nil, providers.Invalid("id token azp %v is not an allowed audience", rawAzp)
	}
	now, skew := p.cfg.Now(), p.cfg.ClockSkew
	exp, ok, err := timeClaim(claims, "exp")
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, providers.Invalid("id token has no exp")
	case exp.Add(skew).Before(now):
		return nil, providers.Invalid("id token expired at %v", exp.UTC())
	}
	t.exp = exp
	iat, ok, err := timeClaim(claims, "iat")
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, providers.Invalid("id token has no iat")
	case iat.After(now.Add(skew)):
		return nil, providers.Invalid("id token iat in the future")
	}
	nbf, ok, err := timeClaim(claims, "nbf")
	switch {
	case err != nil:
		return nil, err
	case ok && nbf.After(now.Add(skew)):
		return nil, providers.Invalid("id token not yet valid")
	}
	if t.sub, err = stringClaim(claims, "sub"); err != nil {
		return nil, err
	}
	if t.sub == "" {
		return nil, providers.Invalid("id token has no sub")
	}
	if t.nonce, err = optionalString(claims, "nonce"); err != nil {
		return nil, err
	}
	if wantNonce != "" && subtle.ConstantTimeCompare([]byte(t.nonce), []byte(wantNonce)) != 1 {
		return nil, providers.Invalid("nonce mismatch")
	}
	if t.atHash, err = optionalString(claims, "at_hash"); err != nil {
		return nil, err
	}
	return t, nil
}

// googleIssuer: Google's ID tokens may say "accounts.google.com" for the
// issuer "https://accounts.google.com" (Google's OpenID Connect documentation,
// "Validating an ID token"); go-oidc allowed this one exception, for Google
// only, and so does verify.
func googleIssuer(want, got string) bool {
	return want == "https://accounts.google.com" && got == "accounts.google.com"
}

// stringClaim is a required string claim (present, and a string).
func stringClaim(claims map[string]any, name string) (string, error) {
	v, ok := claims[name]
	if !ok {
		return "", providers.Invalid("id token has no %s", name)
	}
	s, ok := v.(string)
	if !ok {
		return "", providers.Invalid("id token %s is not a string", name)
	}
	return s, nil
}

// optionalString is an optional string claim: absent is "", another type an error.
func optionalString(claims map[string]any, name string) (string, error) {
	v, ok := claims[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", providers.Invalid("id token %s is not a string", name)
	}
	return s, nil
}

// audienceClaim reads aud: one string or an array of strings (RFC 7519 §4.1.3).
func audienceClaim(v any) ([]string, error) {
	switch a := v.(type) {
	case string:
		return []string{a}, nil
	case []any:
		out := make([]string, len(a))
		for i, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, providers.Invalid("id token aud holds a non-string")
			}
			out[i] = s
		}
		return out, nil
	case nil:
		return nil, providers.Invalid("id token has no aud")
	}
	return nil, providers.Invalid("id token aud is neither a string nor an array")
}

// timeClaim reads a NumericDate (RFC 7519 §2: seconds, possibly fractional);
// ok is false when the claim is absent.
func timeClaim(claims map[string]any, name string) (t time.Time, ok bool, err error) {
	v, present := claims[name]
	if !present {
		return time.Time{}, false, nil
	}
	f, isNum := v.(float64)
	if !isNum {
		return time.Time{}, false, providers.Invalid("id token %s is not a number", name)
	}
	return time.Unix(int64(f), 0), true, nil
}

// verifyAccessToken checks at_hash against the access token that came with
// the ID token (OIDC Core §3.1.3.8): the left half of the hash the JWS alg
// uses, base64url-encoded.
func (t *idToken) verifyAccessToken(accessToken string) error {
	var h hash.Hash
	switch t.alg {
	case jose.RS256, jose.ES256, jose.PS256:
		h = sha256.New()
	case jose.RS384, jose.ES384, jose.PS384:
		h = sha512.New384()
	case jose.RS512, jose.ES512, jose.PS512, jose.EdDSA:
		// EdDSA with Ed25519: SHA-512 (OIDC Core errata; as go-oidc).
		h = sha512.New()
	default:
		return providers.Invalid("at_hash: no hash for alg %q", t.alg)
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)[:h.Size()/2]
	want := base64.RawURLEncoding.EncodeToString(sum)
	if subtle.ConstantTimeCompare([]byte(want), []byte(t.atHash)) != 1 {
		return providers.Invalid("at_hash does not match the access token")
	}
	return nil
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
