package keys

import (
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/go-jose/go-jose/v4"
)

// MaxTokenSize bounds the tokens Verify parses, so an oversized bearer value is
// refused before any decoding work.
const MaxTokenSize = 8 << 10

// Signer signs JWTs with one key: the key that was active when Manager.Signer was
// called. Callers that derive claims from the algorithm (OIDC at_hash and c_hash,
// Core §3.1.3.6) take a Signer, read Algorithm, and sign with the same Signer, so a
// rotation in between cannot mismatch the two. A Signer is safe for concurrent use.
type Signer struct {
	kid string
	alg jose.SignatureAlgorithm
	key jose.SigningKey
	// es256 is the key of an ES256 Signer, which signs without go-jose (es256.go).
	es256 *ecdsa.PrivateKey
	// byTyp caches per typ header value either the encoded protected header (ES256)
	// or one jose.Signer (other algorithms). go-jose's signer holds only immutable
	// configuration and uses crypto/rand per signature, so one instance serves
	// concurrent callers. typ values are a handful of constants.
	byTyp sync.Map // string -> string (ES256) or jose.Signer
}

func newSigner(k *loadedKey) *Signer {
	alg := jose.SignatureAlgorithm(k.rec.Algorithm)
	s := &Signer{
		kid: k.rec.ID,
		alg: alg,
		// Wrapping the key in a JWK with a KeyID makes go-jose set the kid header.
		key: jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: k.private, KeyID: k.rec.ID}},
	}
	if ec, ok := k.private.(*ecdsa.PrivateKey); ok && alg == jose.ES256 {
		s.es256 = ec
	}
	return s
}

// String keeps the private key out of %v and %+v output (an Ed25519 key is a byte
// slice, which fmt would print in full).
func (s *Signer) String() string {
	return "keys.Signer{kid: " + s.kid + ", alg: " + string(s.alg) + "}"
}

// GoString keeps the private key out of %#v output.
func (s *Signer) GoString() string { return s.String() }

// KeyID returns the kid of the signing key.
func (s *Signer) KeyID() string { return s.kid }

// Algorithm returns the JWS alg of the signing key: ES256, RS256 or EdDSA.
func (s *Signer) Algorithm() string { return string(s.alg) }

// Sign serialises claims as JSON and signs them as a compact JWS whose header carries
// alg, kid and typ. typ is required: RFC 8725 §3.11 explicit typing, e.g. "at+jwt"
// for access tokens (RFC 9068 §2.1) or "JWT" for ID tokens.
func (s *Signer) Sign(claims any, typ string) (string, error) {
	if typ == "" {
		return "", errors.New("keys: sign: empty typ")
	}
	var payload []byte
	var err error
	if a, ok := claims.(jsonAppender); ok {
		payload = a.AppendJSON(make([]byte, 0, 384))
	} else if payload, err = json.Marshal(claims); err != nil {
		return "", fmt.Errorf("keys: sign: marshal claims: %w", err)
	}
	if s.es256 != nil {
		return s.signES256(payload, typ)
	}
	js, err := s.joseSigner(typ)
	if err != nil {
		return "", err
	}
	obj, err := js.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	return obj.CompactSerialize()
}

// jsonAppender is implemented by claims that encode themselves as encoding/json
// would, without reflection (token.AccessClaims, on every access token).
type jsonAppender interface {
	AppendJSON(b []byte) []byte
}

func (s *Signer) joseSigner(typ string) (jose.Signer, error) {
	if js, ok := s.byTyp.Load(typ); ok {
		return js.(jose.Signer), nil
	}
	js, err := jose.NewSigner(s.key, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return nil, fmt.Errorf("keys: sign: %w", err)
	}
	actual, _ := s.byTyp.LoadOrStore(typ, js)
	return actual.(jose.Signer), nil
}

// Signer returns a Signer for the current active key.
func (m *Manager) Signer(ctx context.Context) (*Signer, error) {
	s, err := m.view(ctx)
	if err != nil {
		return nil, err
	}
	if s.active == nil {
		return nil, ErrNoActiveKey
	}
	return s.active.signer, nil
}

// SignerFor returns a Signer for the active key of alg: an ID token is signed with
// the algorithm its client registered (OIDC Core §3.1.3.7, Dynamic Client
// Registration §2), which may differ from the access tokens'. It fails with
// ErrNoActiveKey for an algorithm this Manager has no key of (IDTokenAlgorithms).
func (m *Manager) SignerFor(ctx context.Context, alg string) (*Signer, error) {
	s, err := m.view(ctx)
	if err != nil {
		return nil, err
	}
	k := s.activeByAlg[alg]
	if k == nil {
		return nil, fmt.Errorf("%w for %q", ErrNoActiveKey, alg)
	}
	return k.signer, nil
}

// Sign signs claims with the current active key; see Signer.Sign.
func (m *Manager) Sign(ctx context.Context, claims any, typ string) (string, error) {
	s, err := m.Signer(ctx)
	if err != nil {
		return "", err
	}
	return s.Sign(claims, typ)
}

// Verify checks that token is a compact JWS signed by one of our published keys
// (next, active or retired) with that key's own algorithm, and that its typ header
// equals expectedTyp exactly (no case folding, no "application/" prefix: we wrote it);
// it then decodes the payload into dst. It checks the signature and header only:
// exp, nbf, iss, aud and the rest are the caller's.
//
// The header is trusted for nothing but choosing among our keys (RFC 8725 §3.10):
// alg must be the algorithm recorded for the kid (§3.1; so no none, no HS256 keyed
// with a public key, no alg/key-type swap), and tokens carrying jwk, jku, x5u, x5c,
// crit or any other header beyond alg, kid and typ are refused. Errors wrap
// ErrInvalidToken and never echo the token.
func (m *Manager) Verify(ctx context.Context, token, expectedTyp string, dst any) error {
	_, err := m.VerifyKey(ctx, token, expectedTyp, dst)
	return err
}

// VerifyKey is Verify that also returns the kid of the key that signed the token,
// so that the caller can refuse the tokens of a key revoked on another replica
// before this one has dropped it (SECURITY.md AS-JWT-04).
func (m *Manager) VerifyKey(ctx context.Context, token, expectedTyp string, dst any) (string, error) {
	if len(token) > MaxTokenSize {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenSize)
	}
	jws, err := jose.ParseSignedCompact(token, allowedAlgs)
	if err != nil {
		return "", fmt.Errorf("%w: not a compact JWS with an allowed algorithm", ErrInvalidToken)
	}
	if len(jws.Signatures) != 1 {
		return "", fmt.Errorf("%w: want exactly one signature", ErrInvalidToken)
	}
	if !onlyOurHeaders(token) {
		return "", fmt.Errorf("%w: unexpected header parameter", ErrInvalidToken)
	}
	h := jws.Signatures[0].Protected
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	// RFC 8725 §3.11: an exact typ keeps one kind of token from passing as another.
	if expectedTyp == "" || typ != expectedTyp {
		return "", fmt.Errorf("%w: wrong typ", ErrInvalidToken)
	}
	s, err := m.view(ctx)
	if err != nil {
		return "", err
	}
	key := s.byKID[h.KeyID] // a map lookup only: the kid is attacker-controlled
	if key == nil && m.reloadForUnknownKID(ctx) {
		key = m.snap.Load().byKID[h.KeyID]
	}
	if key == nil {
		return "", fmt.Errorf("%w: unknown kid", ErrInvalidToken)
	}
	if h.Algorithm != key.rec.Algorithm {
		return "", fmt.Errorf("%w: alg does not match the key", ErrInvalidToken)
	}
	payload, err := jws.Verify(key.public)
	if err != nil {
		return "", fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	if err := json.Unmarshal(payload, dst); err != nil {
		return "", fmt.Errorf("%w: payload is not the expected JSON", ErrInvalidToken)
	}
	return h.KeyID, nil
}

// reloadForUnknownKID rereads the keys for a token whose kid is not cached, at most
// once per unknownKIDEvery across all callers: when another replica revoked its
// active key, it signs with a replacement at once (Revoke), which this replica would
// otherwise refuse until its next refresh. It reports whether it reloaded.
func (m *Manager) reloadForUnknownKID(ctx context.Context) bool {
	now := m.opts.Now().UnixNano()
	last := m.unknownKIDReload.Load()
	if now-last < int64(unknownKIDEvery) || !m.unknownKIDReload.CompareAndSwap(last, now) {
		return false
	}
	if err := m.Refresh(ctx); err != nil {
		m.opts.Logger.ErrorContext(ctx, "signing keys: reload for an unknown kid failed", "error", err)
		return false
	}
	return true
}

// onlyOurHeaders reports whether the protected header of a compact JWS has no
// parameters but alg, kid and typ — the ones Sign writes. Checking the raw names
// also catches those go-jose parses but does not expose (x5c) or keeps as extras
// (jku, x5u, crit, b64).
func onlyOurHeaders(token string) bool {
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return false
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(raw, &params); err != nil {
		return false
	}
	for name := range params {
		if name != "alg" && name != "kid" && name != "typ" {
			return false
		}
	}
	return true
}
