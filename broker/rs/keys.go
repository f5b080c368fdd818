package rs

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
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// maxDocument bounds a discovery document or JWKS read from the network.
const maxDocument = 1 << 20

// keyCache holds the issuer's published signing keys. A token naming a kid it
// does not have refetches the JWKS — Gatehouse rotated its key (OIDC Core
// §10.1.1) — but never more often than minGap, and one caller fetches while the
// others wait for its result: a flood of forged kids costs Gatehouse at most one
// request per minGap.
type keyCache struct {
	client  *http.Client
	timeout time.Duration
	minGap  time.Duration
	maxAge  time.Duration
	now     func() time.Time
	url     string

	set     atomic.Pointer[keySet]
	fetchMu sync.Mutex
	tried   time.Time // last fetch attempt; guarded by fetchMu
}

type keySet struct {
	keys    []jose.JSONWebKey // public signing keys only
	fetched time.Time
}

var errNoKey = errors.New("rs: no published key for the token")

// key returns the published key that verifies a token with header kid and alg.
func (c *keyCache) key(ctx context.Context, kid, alg string) (jose.JSONWebKey, error) {
	if s := c.set.Load(); s == nil || c.now().Sub(s.fetched) >= c.maxAge {
		// Stale: a key Gatehouse revoked must stop verifying. A failed refetch
		// keeps the keys we have rather than failing every request.
		c.refreshLimited(ctx)
	}
	if k, ok := c.set.Load().find(kid, alg); ok {
		return k, nil
	}
	if c.refreshLimited(ctx) {
		if k, ok := c.set.Load().find(kid, alg); ok {
			return k, nil
		}
	}
	return jose.JSONWebKey{}, errNoKey
}

// find picks the key for kid and alg: by kid when the token names one, else the
// only key for alg (several candidates are ambiguous, OIDC Core §10.1).
func (s *keySet) find(kid, alg string) (jose.JSONWebKey, bool) {
	if s == nil {
		return jose.JSONWebKey{}, false
	}
	var found []jose.JSONWebKey
	for _, k := range s.keys {
		if (kid == "" || k.KeyID == kid) && usable(k, alg) {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		return jose.JSONWebKey{}, false
	}
	return found[0], true
}

// usable: a key published for alg (RFC 8725 §3.1: the key decides the
// algorithm, not the token), or without alg but of the algorithm's key type.
func usable(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" {
		return k.Algorithm == alg
	}
	switch k.Key.(type) {
	case *ecdsa.PublicKey:
		return strings.HasPrefix(alg, "ES")
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// refreshLimited fetches the JWKS unless a fetch was attempted less than minGap
// ago, and reports whether it fetched (or another caller just did while this
// one waited).
func (c *keyCache) refreshLimited(ctx context.Context) bool {
	before := c.set.Load()
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	if c.set.Load() != before {
		return true // fetched by the caller we waited for
	}
	if !c.tried.IsZero() && c.now().Sub(c.tried) < c.minGap {
		return false
	}
	return c.refreshLocked(ctx) == nil
}

// refresh fetches the JWKS now (New's first fetch).
func (c *keyCache) refresh(ctx context.Context) error {
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	return c.refreshLocked(ctx)
}

func (c *keyCache) refreshLocked(ctx context.Context) error {
	c.tried = c.now()
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, c.client, c.timeout, c.url, &set); err != nil {
		return fmt.Errorf("rs: fetch JWKS: %w", err)
	}
	s := &keySet{fetched: c.now()}
	for _, k := range set.Keys {
		// Signing keys only, and only their public part: a symmetric key in a
		// JWKS would make anyone who reads it a signer (RFC 8725 §3.1).
		if _, sym := k.Key.([]byte); sym || k.Use != "" && k.Use != "sig" {
			continue
		}
		pub := k.Public()
		if !pub.Valid() {
			continue
		}
		s.keys = append(s.keys, pub)
	}
	if len(s.keys) == 0 {
		return errors.New("rs: the JWKS has no public signing key")
	}
	c.set.Store(s)
	return nil
}

// discover reads the issuer's metadata (RFC 8414 §3; OIDC Discovery §4, which
// Gatehouse serves) and returns its jwks_uri. The document's issuer must be the
// configured one (RFC 8414 §3.3), or keys of another issuer could be trusted.
func discover(ctx context.Context, client *http.Client, timeout time.Duration, issuer string) (string, error) {
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	if err := getJSON(ctx, client, timeout, u, &meta); err != nil {
		return "", fmt.Errorf("rs: discovery: %w", err)
	}
	if meta.Issuer != issuer {
		return "", fmt.Errorf("rs: discovery: issuer %q is not the configured %q", meta.Issuer, issuer)
	}
	if meta.JWKSURI == "" {
		return "", errors.New("rs: discovery: no jwks_uri")
	}
	return meta.JWKSURI, nil
}

func getJSON(ctx context.Context, client *http.Client, timeout time.Duration, u string, dst any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxDocument+1))
	if err != nil {
		return err
	}
	if len(body) > maxDocument {
		return fmt.Errorf("GET %s: response over %d bytes", u, maxDocument)
	}
	return json.Unmarshal(body, dst)
}
