// Package dpop checks DPoP proofs (RFC 9449): the stateless checks of §4.3
// that both Gatehouse's authorization server and the APIs behind it run. What
// needs state (jti replay, server nonces) is left to the caller.
package dpop

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// HeaderName is the request header carrying a proof (RFC 9449 §4.1).
const HeaderName = "DPoP"

// NonceHeader is the response header carrying a server nonce (RFC 9449 §8).
const NonceHeader = "DPoP-Nonce"

// DefaultWindow is how far a proof's iat may be from now when Check.Window is
// zero (RFC 9449 §4.3 step 11, §11.1: a short window limits pre-generated proofs).
const DefaultWindow = 2 * time.Minute

// SupportedAlgs are the JWS algorithms Gatehouse accepts for proofs, and what
// discovery advertises as dpop_signing_alg_values_supported (RFC 9449 §5.1).
// Asymmetric only: §4.2 forbids none and MAC-based algorithms.
var SupportedAlgs = []string{"ES256", "ES384", "ES512", "EdDSA", "PS256", "RS256"}

// asymmetric are the algorithms a caller may list in Check.Algs; anything else
// (none, HS*) is dropped whatever the caller asks (RFC 9449 §4.2).
var asymmetric = []string{
	"ES256", "ES384", "ES512", "EdDSA",
	"PS256", "PS384", "PS512", "RS256", "RS384", "RS512",
}

// minRSABits refuses toy RSA keys (RFC 7518 §3.3 requires 2048 bits).
const minRSABits = 2048

// maxProofLen bounds the work done on a header (§4.3 leaves size to the server;
// an RSA-4096 proof with ath is well under 4 KiB).
const maxProofLen = 8 << 10

// ErrInvalidProof is what every refusal of Parse matches with errors.Is: the
// caller answers invalid_dpop_proof (RFC 9449 §5, §7.1).
var ErrInvalidProof = errors.New("invalid DPoP proof")

// ProofError says which check of RFC 9449 §4.3 a proof failed. Reason never
// contains the proof itself, so it is safe to log and to put in an
// error_description.
type ProofError struct{ Reason string }

func (e *ProofError) Error() string        { return "invalid DPoP proof: " + e.Reason }
func (e *ProofError) Is(target error) bool { return target == ErrInvalidProof }

func refuse(format string, a ...any) error { return &ProofError{Reason: fmt.Sprintf(format, a...)} }

// Proof is a DPoP proof JWT that passed every stateless check of RFC 9449 §4.3.
type Proof struct {
	JKT      string    // RFC 7638 SHA-256 thumbprint of the proof's public key, base64url (§6.1)
	ID       string    // jti
	IssuedAt time.Time // iat
	Nonce    string    // nonce claim, "" when absent
}

// Check is what the proof must match.
type Check struct {
	Method, URL string // htm, htu (compared per §4.3 step 9: without query and fragment, normalised per RFC 3986 §6)
	AccessToken string // when set, ath must be its base64url SHA-256 (§4.3 step 10/§7)
	Now         time.Time
	Window      time.Duration // how far iat may be from Now, either way
	Algs        []string      // accepted JWS algs (asymmetric only); nil → the package default list
}

// FromHeader returns the single DPoP header value of h. present is false when
// there is none; more than one is an error (RFC 9449 §4.3 step 1).
func FromHeader(h http.Header) (value string, present bool, err error) {
	vs := h.Values(HeaderName)
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
		return vs[0], true, nil
	default:
		return "", true, refuse("more than one DPoP header")
	}
}

type claims struct {
	ID       string           `json:"jti"`
	Method   string           `json:"htm"`
	URL      string           `json:"htu"`
	IssuedAt *json.Number     `json:"iat"`
	ATH      string           `json:"ath"`
	Nonce    *json.RawMessage `json:"nonce"`
}

// Parse runs the checks of RFC 9449 §4.3 on header, the single DPoP header
// value of a request, against c.
func Parse(header string, c Check) (*Proof, error) {
	if header == "" {
		return nil, refuse("empty")
	}
	if len(header) > maxProofLen {
		return nil, refuse("too long")
	}
	// §4.3 step 2: a well-formed JWT, in JWS compact form (RFC 7515 §7.1).
	if strings.Count(header, ".") != 2 {
		return nil, refuse("not a JWS in compact serialization")
	}
	algs := allowedAlgs(c.Algs)
	if len(algs) == 0 {
		return nil, refuse("no acceptable algorithm configured")
	}
	jws, err := jose.ParseSignedCompact(header, algs)
	if err != nil {
		// go-jose refuses an unlisted alg and a private or invalid embedded jwk
		// here (RFC 7515 §4.1.3); say which, without the proof.
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		switch {
		case errors.As(err, &algErr):
			return nil, refuse("alg not allowed (RFC 9449 §4.2: asymmetric algorithms only)")
		case strings.Contains(strings.ToLower(err.Error()), "jwk"):
			return nil, refuse("jwk header is not a valid public key")
		}
		return nil, refuse("malformed JWS")
	}
	if len(jws.Signatures) != 1 {
		return nil, refuse("not exactly one signature")
	}
	h := jws.Signatures[0].Protected
	// §4.3 step 4: typ is dpop+jwt (§4.2).
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return nil, refuse("typ is not dpop+jwt")
	}
	// §4.3 step 5 was enforced by the alg list; steps 6 and 7: the jwk header
	// is present, public, and the signature verifies with it.
	jwk := h.JSONWebKey
	if jwk == nil {
		return nil, refuse("no jwk header")
	}
	if !jwk.IsPublic() || !jwk.Valid() {
		return nil, refuse("jwk header is not a public key") // §4.2: MUST NOT contain a private key
	}
	if k, ok := jwk.Key.(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits {
		return nil, refuse("RSA key shorter than %d bits", minRSABits)
	}
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return nil, refuse("signature does not verify with the jwk header")
	}
	var cl claims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return nil, refuse("claims are not a JSON object")
	}
	// §4.3 step 3 (required claims), then steps 8 to 11.
	if cl.ID == "" {
		return nil, refuse("no jti")
	}
	if cl.Method == "" || cl.URL == "" || cl.IssuedAt == nil {
		return nil, refuse("htm, htu and iat are required")
	}
	if cl.Method != c.Method {
		return nil, refuse("htm does not match the request method")
	}
	if !SameURL(cl.URL, c.URL) {
		return nil, refuse("htu does not match the request URL")
	}
	if c.AccessToken != "" {
		if cl.ATH == "" {
			return nil, refuse("no ath for the access token")
		}
		if cl.ATH != AccessTokenHash(c.AccessToken) {
			return nil, refuse("ath does not match the access token")
		}
	}
	iatF, err := cl.IssuedAt.Float64()
	if err != nil || math.IsNaN(iatF) || math.IsInf(iatF, 0) || iatF < 0 || iatF > 1<<40 {
		return nil, refuse("iat is not a NumericDate")
	}
	iat := time.Unix(int64(iatF), 0)
	window := c.Window
	if window <= 0 {
		window = DefaultWindow
	}
	if d := c.Now.Sub(iat); d > window || d < -window {
		return nil, refuse("iat is outside the accepted window")
	}
	var nonce string
	if cl.Nonce != nil {
		if err := json.Unmarshal(*cl.Nonce, &nonce); err != nil || nonce == "" {
			return nil, refuse("nonce is not a non-empty string")
		}
	}
	jkt, err := Thumbprint(*jwk)
	if err != nil {
		return nil, refuse("jwk header has no thumbprint")
	}
	return &Proof{JKT: jkt, ID: cl.ID, IssuedAt: iat, Nonce: nonce}, nil
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of k's public key, base64url
// without padding: the jkt of RFC 9449 §6.1. A private key is refused, so a
// caller cannot bind to key material that should never have been sent.
func Thumbprint(k jose.JSONWebKey) (string, error) {
	if !k.IsPublic() {
		return "", errors.New("dpop: thumbprint of a key that is not public")
	}
	b, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// AccessTokenHash is the ath of a proof for token: base64url of its SHA-256
// (RFC 9449 §4.2).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SameURL compares a proof's htu with the request URL as RFC 9449 §4.3 step 9
// says: without query and fragment, after syntax- and scheme-based
// normalisation (RFC 3986 §6.2.2, §6.2.3).
func SameURL(htu, want string) bool {
	a, ok := normalise(htu)
	if !ok {
		return false
	}
	b, ok := normalise(want)
	return ok && a == b
}

func normalise(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	// Percent-encoding normalised by decoding and re-encoding the path
	// (§6.2.2.2); an empty path is "/" (§6.2.3). Dot segments are left as
	// they are, so a proof naming "/a/../token" does not match "/token":
	// stricter, never looser.
	path := (&url.URL{Path: u.Path}).EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

func allowedAlgs(requested []string) []jose.SignatureAlgorithm {
	if requested == nil {
		requested = SupportedAlgs
	}
	var out []jose.SignatureAlgorithm
	for _, a := range requested {
		if slices.Contains(asymmetric, a) {
			out = append(out, jose.SignatureAlgorithm(a))
		}
	}
	return out
}
