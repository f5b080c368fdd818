// Package registry holds the rules for registering OAuth clients and APIs: generated
// client secrets, redirect-URI registration and matching, what a valid client or API
// record is, and the read-through cache the request paths look them up in.
package registry

import (
	"crypto/subtle"

	"github.com/gatehouse/gatehouse/broker/token"
)

// NewSecret returns a fresh client secret and the hash to store: a 256-bit opaque
// token like codes and refresh tokens, so a fast hash is enough to store it (no
// password-hash stretching: there is nothing to guess; OIDC Core §16.19, ASVS 5
// 6.5.2). Gatehouse always generates secrets; people never choose them.
func NewSecret() (secret string, hash []byte) { return token.NewOpaque() }

// dummyHash stands in for the stored hash of an unknown client, so a lookup miss
// costs the same hash and compare as a wrong secret.
var dummyHash = token.Hash("no client has this secret")

// SecretMatches reports whether presented hashes to stored, in constant time with
// respect to both values. A nil stored hash (unknown or public client) is compared
// against a dummy and never matches.
func SecretMatches(stored []byte, presented string) bool {
	h := token.Hash(presented)
	if len(stored) != len(h) {
		subtle.ConstantTimeCompare(dummyHash, h)
		return false
	}
	return subtle.ConstantTimeCompare(stored, h) == 1
}

// NewClientID returns a random client identifier (128 bits, URL-safe).
func NewClientID() string { return token.Random(16) }
