package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/go-jose/go-jose/v4"
)

// Supported signing algorithms (JWS "alg" values, RFC 7518 §3.1 and RFC 8037 §3.1).
const (
	ES256 = "ES256"
	RS256 = "RS256"
	EdDSA = "EdDSA"
)

// rsaBits is the RSA modulus size for RS256 keys. 2048 bits gives 112-bit security,
// acceptable through 2030 (NIST SP 800-57 Part 1), and signs about 3x faster than
// 3072; RS256 is here for clients that cannot do ES256, not as the strong option.
const rsaBits = 2048

// allowedAlgs are the only "alg" values Verify parses; anything else (none, HS*,
// PS*, ES384…) fails before a key is looked at.
var allowedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

func validAlgorithm(alg string) bool {
	return alg == ES256 || alg == RS256 || alg == EdDSA
}

// generate makes a new key pair and its store record in state "next", with the
// private part sealed under the kid. The kid is the RFC 7638 JWK thumbprint of the
// public key: unique per key and revealing nothing beyond the public key.
func generate(kr *seal.Keyring, alg string, now time.Time) (store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return store.SigningKey{}, fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("marshal public JWK: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("marshal private key: %w", err)
	}
	sealed, err := kr.Seal(der, []byte(pub.KeyID))
	clear(der)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("seal private key: %w", err)
	}
	return store.SigningKey{
		ID:         pub.KeyID,
		Algorithm:  alg,
		PublicJWK:  pubJSON,
		PrivateEnc: sealed,
		State:      store.KeyNext,
		CreatedAt:  now,
	}, nil
}

// ErrKeyMaterial marks a stored signing key that cannot be used: its private part
// does not open with the configured master keys, or it contradicts its record.
var ErrKeyMaterial = errors.New("keys: unusable signing key")

// loadedKey is a stored key decoded for use. Only next and active keys keep their
// private part; a retired key never signs again.
type loadedKey struct {
	rec     store.SigningKey
	public  crypto.PublicKey
	private crypto.Signer
	signer  *Signer // set for the active key only
}

// load opens a stored key and checks that its record is consistent: the private key
// has the recorded algorithm, and the published JWK is exactly its public half. The
// public key is derived from the sealed private key rather than trusted from the
// PublicJWK column, so someone who can write to the database but lacks the master
// key cannot slip a verification key of their own into the JWKS.
func load(kr *seal.Keyring, rec store.SigningKey) (*loadedKey, error) {
	fail := func(format string, args ...any) error {
		// The kid is public (it is in every token header); key bytes never appear.
		return fmt.Errorf("%w: kid %q: %s", ErrKeyMaterial, rec.ID, fmt.Sprintf(format, args...))
	}
	if !validAlgorithm(rec.Algorithm) {
		return nil, fail("unsupported algorithm %q", rec.Algorithm)
	}
	der, err := kr.Open(rec.PrivateEnc, []byte(rec.ID))
	if errors.Is(err, seal.ErrUnknownKey) {
		return nil, fmt.Errorf("%w: kid %q: private key sealed with a master key that is not configured (wrong GATEHOUSE_MASTER_KEY?): %w", ErrKeyMaterial, rec.ID, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: kid %q: open private key: %w", ErrKeyMaterial, rec.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fail("private key is not PKCS #8")
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok || !keyMatchesAlg(priv, rec.Algorithm) {
		return nil, fail("private key type does not match algorithm %s", rec.Algorithm)
	}
	var stored jose.JSONWebKey
	if err := stored.UnmarshalJSON(rec.PublicJWK); err != nil {
		return nil, fail("public JWK does not parse")
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if !stored.IsPublic() || stored.KeyID != rec.ID || stored.Algorithm != rec.Algorithm ||
		!priv.Public().(equaler).Equal(stored.Key) {
		return nil, fail("public JWK does not match the sealed private key")
	}
	lk := &loadedKey{rec: rec, public: priv.Public()}
	if rec.State != store.KeyRetired {
		lk.private = priv
	}
	return lk, nil
}

func keyMatchesAlg(k crypto.Signer, alg string) bool {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return alg == ES256 && k.Curve == elliptic.P256()
	case *rsa.PrivateKey:
		return alg == RS256 && k.N.BitLen() >= 2048
	case ed25519.PrivateKey:
		return alg == EdDSA
	}
	return false
}

// publicJWK is the key as the JWKS publishes it: public members, kid, alg, use.
func (k *loadedKey) publicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.public, KeyID: k.rec.ID, Algorithm: k.rec.Algorithm, Use: "sig"}
}

// sameRecord reports whether rec describes the same key material as k, so a cache
// refresh can reuse the decoded key instead of opening it again.
func (k *loadedKey) sameRecord(rec store.SigningKey) bool {
	return k.rec.ID == rec.ID && k.rec.Algorithm == rec.Algorithm &&
		string(k.rec.PrivateEnc) == string(rec.PrivateEnc) &&
		string(k.rec.PublicJWK) == string(rec.PublicJWK)
}
