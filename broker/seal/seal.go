// Package seal encrypts secrets at rest (signing keys, upstream client secrets) with
// the master key, so that a database dump or backup alone reveals none of them.
//
// A sealed value is
//
//	version (1 byte) | key ID (8 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// The key ID names the master key that sealed the value, so several master keys can
// coexist during master-key rotation: the first key of a Keyring seals, every key opens.
// The version byte and key ID are authenticated together with the caller's associated
// data, which binds a sealed value to its row (for example a signing key's kid): the
// same bytes copied into another row no longer open.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// KeySize is the length of a master key: AES-256.
const KeySize = 32

const (
	version1  = 1
	keyIDSize = 8
	nonceSize = 12 // the GCM standard nonce; random nonces are safe for up to 2^32 seals per key
	tagSize   = 16
	headerLen = 1 + keyIDSize
	overhead  = headerLen + nonceSize + tagSize
)

// keyIDLabel is the fixed HMAC message from which a key's ID is derived. Deriving the
// ID through HMAC means it identifies the key without revealing anything about it.
const keyIDLabel = "gatehouse/seal master key id v1"

var (
	// ErrUnknownKey: the value was sealed with a master key this keyring does not
	// hold — typically a wrong or missing GATEHOUSE_MASTER_KEY.
	ErrUnknownKey = errors.New("seal: sealed with a master key that is not in the keyring")
	// ErrDecrypt: the value is malformed, was tampered with, or belongs to other
	// associated data (another row).
	ErrDecrypt = errors.New("seal: cannot decrypt: malformed, tampered with, or bound to other data")
)

type masterKey struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// Keyring seals with its newest master key and opens with any of them. It holds no
// raw key bytes (only the expanded AES keys inside the AEADs) and is safe for
// concurrent use.
type Keyring struct {
	keys []masterKey // keys[0] seals
	// macKey, derived from the newest master key, keys MAC.
	macKey []byte
}

// macLabel derives the MAC key from the newest master key, apart from the key ID
// and the AES key.
const macLabel = "gatehouse/seal mac key v1"

// NewKeyring builds a keyring from master keys, newest first: the first one seals,
// all of them open. Each key must be exactly KeySize bytes, and no key may repeat.
// The caller may wipe the key slices afterwards.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no master key given")
	}
	kr := &Keyring{keys: make([]masterKey, 0, len(keys))}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("seal: master key %d is %d bytes, want %d", i+1, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("seal: master key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: master key %d: %w", i+1, err)
		}
		mk := masterKey{id: keyID(k), aead: aead}
		for j, prev := range kr.keys {
			// Equal IDs mean the same key given twice (or a 2^-64 collision):
			// either way Open could not tell them apart.
			if hmac.Equal(prev.id[:], mk.id[:]) {
				return nil, fmt.Errorf("seal: master keys %d and %d are the same key", j+1, i+1)
			}
		}
		kr.keys = append(kr.keys, mk)
	}
	mac := hmac.New(sha256.New, keys[0])
	mac.Write([]byte(macLabel))
	kr.macKey = mac.Sum(nil)
	return kr, nil
}

func keyID(key []byte) [keyIDSize]byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(keyIDLabel))
	var id [keyIDSize]byte
	copy(id[:], mac.Sum(nil))
	return id
}

// String keeps key material out of logs and %v output.
func (kr *Keyring) String() string {
	return fmt.Sprintf("seal.Keyring{%d master keys}", len(kr.keys))
}

// GoString keeps key material out of %#v output.
func (kr *Keyring) GoString() string { return kr.String() }

// Seal encrypts plaintext with the newest master key, bound to associatedData
// (which is authenticated, not encrypted, and not stored).
func (kr *Keyring) Seal(plaintext, associatedData []byte) ([]byte, error) {
	mk := kr.keys[0]
	out := make([]byte, headerLen+nonceSize, overhead+len(plaintext))
	out[0] = version1
	copy(out[1:headerLen], mk.id[:])
	if _, err := rand.Read(out[headerLen:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	nonce := out[headerLen : headerLen+nonceSize]
	return mk.aead.Seal(out, nonce, plaintext, gcmAD(out[:headerLen], associatedData)), nil
}

// MAC is a keyed hash (HMAC-SHA-256) of data for purpose, under a key derived
// from the newest master key: a value that must be found again by equality
// (RFC 8628's user codes) but whose stored form, being short, must not be
// searchable offline from a database copy. After a master-key rotation the MACs
// of the old key no longer match; only short-lived values may rely on it.
func (kr *Keyring) MAC(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, kr.macKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// Open decrypts a value made by Seal with the same associatedData. It returns
// ErrUnknownKey when no master key of the keyring sealed it, and an error wrapping
// ErrDecrypt when it is malformed, tampered with or bound to other associated data.
func (kr *Keyring) Open(ciphertext, associatedData []byte) ([]byte, error) {
	mk, err := kr.keyFor(ciphertext)
	if err != nil {
		return nil, err
	}
	nonce := ciphertext[headerLen : headerLen+nonceSize]
	pt, err := mk.aead.Open(nil, nonce, ciphertext[headerLen+nonceSize:], gcmAD(ciphertext[:headerLen], associatedData))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// NeedsReseal reports whether ciphertext was sealed with a master key of the keyring
// other than the newest one, so it should be opened and sealed again (master-key
// rotation). Malformed values and values of unknown keys report false: resealing
// them cannot succeed, and Open says why.
func (kr *Keyring) NeedsReseal(ciphertext []byte) bool {
	mk, err := kr.keyFor(ciphertext)
	return err == nil && mk != &kr.keys[0]
}

func (kr *Keyring) keyFor(ciphertext []byte) (*masterKey, error) {
	if len(ciphertext) < overhead {
		return nil, fmt.Errorf("%w (too short)", ErrDecrypt)
	}
	if ciphertext[0] != version1 {
		return nil, fmt.Errorf("%w (unknown format version %d)", ErrDecrypt, ciphertext[0])
	}
	id := ciphertext[1:headerLen]
	for i := range kr.keys {
		if hmac.Equal(kr.keys[i].id[:], id) {
			return &kr.keys[i], nil
		}
	}
	return nil, ErrUnknownKey
}

// gcmAD authenticates the header with the caller's associated data. The header has a
// fixed length, so the concatenation is unambiguous.
func gcmAD(header, associatedData []byte) []byte {
	ad := make([]byte, 0, len(header)+len(associatedData))
	return append(append(ad, header...), associatedData...)
}

// NewMasterKey returns a fresh random master key as standard base64 text, the form
// GATEHOUSE_MASTER_KEY takes.
func NewMasterKey() (string, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("seal: generate master key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}
