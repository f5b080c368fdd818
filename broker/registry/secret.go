// Package registry holds the rules for registering OAuth clients and APIs: generated
// client secrets, redirect-URI registration and matching, and what a valid client or
// API record is.
package registry

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// SecretBytes is the entropy of a generated client secret: 256 bits, so a fast hash
// is enough to store it (no password-hash stretching: there is nothing to guess;
// OIDC Core §16.19, ASVS 5 6.5.2).
const SecretBytes = 32

// NewSecret returns a fresh client secret and the hash to store. Gatehouse always
// generates secrets; people never choose them.
func NewSecret() (secret string, hash []byte) {
	secret = randomString(SecretBytes)
	return secret, HashSecret(secret)
}

// HashSecret is the stored form of a secret (or of any other 256-bit token).
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// dummyHash stands in for the stored hash of an unknown client, so a lookup miss
// costs the same hash and compare as a wrong secret.
var dummyHash = HashSecret("no client has this secret")

// SecretMatches reports whether presented hashes to stored, in constant time with
// respect to both values. A nil stored hash (unknown or public client) is compared
// against a dummy and never matches.
func SecretMatches(stored []byte, presented string) bool {
	h := sha256.Sum256([]byte(presented))
	if len(stored) != sha256.Size {
		subtle.ConstantTimeCompare(dummyHash, h[:])
		return false
	}
	return subtle.ConstantTimeCompare(stored, h[:]) == 1
}

// NewClientID returns a random client identifier (128 bits, URL-safe).
func NewClientID() string { return randomString(16) }

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}
