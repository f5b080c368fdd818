package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/providers"
)

// keySet holds the OP's keys from its jwks_uri, in place of go-oidc's
// RemoteKeySet. RemoteKeySet coalesces concurrent fetches but refetches for
// every token with an unknown kid, so a stream of tokens with random kids
// makes one upstream request each (SECURITY.md DOS-10; see
// TestDOS10_RemoteKeySetRefetchesPerUnknownKid). keySet fetches at most once
// per cooldown, and also refuses a kid-less token when several keys could
// have signed it (OIDC Core §10.1: kid is then required).
type keySet struct {
	url      string
	client   *http.Client
	now      func() time.Time
	cooldown time.Duration
	maxAge   time.Duration

	fetchMu sync.Mutex // one fetch at a time; waiters then see its result

	mu          sync.RWMutex
	keys        []jose.JSONWebKey
	fetchedAt   time.Time // last successful fetch
	attemptedAt time.Time // last fetch attempt
}

func newKeySet(url string, client *http.Client, now func() time.Time, cooldown, maxAge time.Duration) *keySet {
	return &keySet{url: url, client: client, now: now, cooldown: cooldown, maxAge: maxAge}
}

var errNoMatchingKey = errors.New("no matching key in JWKS")

// verify checks the signature of jws, parsed by the caller with the
// provider's algorithm allowlist, against the cached keys, refetching once
// for an unknown kid, and returns the signed payload.
func (k *keySet) verify(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if len(jws.Signatures) != 1 {
		return nil, errors.New("jwt must have exactly one signature")
	}
	hdr := jws.Signatures[0].Header
	keys, fresh := k.cached()
	if !fresh {
		keys = k.refresh(ctx)
	}
	payload, err := verifyWith(jws, hdr, keys)
	if errors.Is(err, errNoMatchingKey) && hdr.KeyID != "" {
		// An unknown kid may be a rotated key (OIDC Core §10.1.1): refetch,
		// unless a fetch happened within the cooldown.
		if keys2 := k.refresh(ctx); len(keys2) > 0 {
			payload, err = verifyWith(jws, hdr, keys2)
		}
	}
	return payload, err
}

// verifyWith selects the candidate keys: the one named by kid, or, without
// kid, the only signing key that fits the alg.
func verifyWith(jws *jose.JSONWebSignature, hdr jose.Header, keys []jose.JSONWebKey) ([]byte, error) {
	var cands []*jose.JSONWebKey
	for i := range keys {
		key := &keys[i]
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		if key.Algorithm != "" && key.Algorithm != hdr.Algorithm {
			continue
		}
		if hdr.KeyID != "" && key.KeyID != hdr.KeyID {
			continue
		}
		if !fitsAlg(key, hdr.Algorithm) {
			continue
		}
		cands = append(cands, key)
	}
	switch {
	case len(cands) == 0:
		return nil, errNoMatchingKey
	case len(cands) > 1:
		return nil, fmt.Errorf("%d keys match kid %q; refusing to guess", len(cands), hdr.KeyID)
	}
	return jws.Verify(cands[0])
}

func fitsAlg(key *jose.JSONWebKey, alg string) bool {
	switch key.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return strings.HasPrefix(alg, "ES")
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

func (k *keySet) cached() ([]jose.JSONWebKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys, len(k.keys) > 0 && k.now().Sub(k.fetchedAt) < k.maxAge
}

// refresh fetches the JWKS unless an attempt was made within the cooldown,
// and returns the keys to use. A failed fetch keeps the last good keys.
func (k *keySet) refresh(ctx context.Context) []jose.JSONWebKey {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	k.mu.RLock()
	keys, attempted := k.keys, k.attemptedAt
	k.mu.RUnlock()
	now := k.now()
	if !attempted.IsZero() && now.Sub(attempted) < k.cooldown {
		return keys
	}
	k.mu.Lock()
	k.attemptedAt = now
	k.mu.Unlock()
	fetched, err := k.fetch(ctx)
	if err != nil {
		return keys
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys, k.fetchedAt = fetched, now
	return fetched
}

func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: jwks: %w", providers.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: jwks: status %d: %v", providers.ErrUnavailable, resp.StatusCode, err)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%w: jwks: %w", providers.ErrUnavailable, err)
	}
	var keys []jose.JSONWebKey
	for _, r := range raw.Keys {
		var key jose.JSONWebKey
		// Unknown key types are skipped rather than failing the set; only
		// public asymmetric keys are kept, never symmetric "oct" keys.
		if err := key.UnmarshalJSON(r); err != nil || !key.IsPublic() || !key.Valid() {
			continue
		}
		keys = append(keys, key)
	}
	return keys, nil
}
