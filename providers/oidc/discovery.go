package oidc

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/providers"
)

// discovered is one discovery result with what is built from it.
type discovered struct {
	provider  *gooidc.Provider
	oauth2    oauth2.Config // without RedirectURL, which is per request
	keys      *keySet
	algs      []jose.SignatureAlgorithm // what an ID token may be signed with
	fetchedAt time.Time

	// issParameter: authorization_response_iss_parameter_supported (RFC 9207 §3).
	issParameter       bool
	endSessionEndpoint string
	jwksURI            string
}

// discoveryCache holds the last good discovery and refreshes it after the
// TTL; a failed refresh keeps serving the last good copy.
type discoveryCache struct {
	mu  sync.Mutex
	cur *discovered
}

func (p *Provider) discovery(ctx context.Context) (*discovered, error) {
	p.disc.mu.Lock()
	defer p.disc.mu.Unlock()
	cur := p.disc.cur
	if cur != nil && p.cfg.Now().Sub(cur.fetchedAt) < p.cfg.DiscoveryTTL {
		return cur, nil
	}
	next, err := p.discover(ctx, cur)
	if err != nil {
		if cur != nil {
			return cur, nil
		}
		return nil, err
	}
	p.disc.cur = next
	return next, nil
}

func (p *Provider) discover(ctx context.Context, prev *discovered) (*discovered, error) {
	ctx = gooidc.ClientContext(ctx, p.cfg.HTTPClient)
	// NewProvider refuses a document whose issuer differs from ours
	// (OIDC Discovery §4.3; SECURITY.md OIDC-15).
	op, err := gooidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery: %w", providers.ErrUnavailable, err)
	}
	var meta struct {
		JWKSURI            string   `json:"jwks_uri"`
		EndSession         string   `json:"end_session_endpoint"`
		IssParameter       bool     `json:"authorization_response_iss_parameter_supported"`
		SigningAlgs        []string `json:"id_token_signing_alg_values_supported"`
		CodeChallengeTypes []string `json:"code_challenge_methods_supported"`
	}
	if err := op.Claims(&meta); err != nil {
		return nil, fmt.Errorf("%w: discovery: %w", providers.ErrUnavailable, err)
	}
	if meta.JWKSURI == "" {
		return nil, fmt.Errorf("%w: discovery has no jwks_uri", providers.ErrConfig)
	}
	algs := p.cfg.SigningAlgs
	if len(algs) == 0 {
		for _, a := range meta.SigningAlgs {
			if slices.Contains(asymmetricAlgs, a) {
				algs = append(algs, a)
			}
		}
		if len(algs) == 0 {
			algs = []string{"RS256"} // OIDC Discovery §3: RS256 MUST be supported
		}
	}
	d := &discovered{
		provider:           op,
		fetchedAt:          p.cfg.Now(),
		issParameter:       meta.IssParameter,
		endSessionEndpoint: meta.EndSession,
		jwksURI:            meta.JWKSURI,
		oauth2: oauth2.Config{
			ClientID:     p.cfg.ClientID,
			ClientSecret: p.cfg.ClientSecret,
			Endpoint:     op.Endpoint(),
			Scopes:       p.cfg.Scopes,
		},
	}
	// Keep the key cache (and its cooldown) across refreshes of the same URI.
	if prev != nil && prev.jwksURI == meta.JWKSURI {
		d.keys = prev.keys
	} else {
		d.keys = newKeySet(meta.JWKSURI, p.cfg.HTTPClient, p.cfg.Now, p.cfg.JWKSCooldown, p.cfg.JWKSMaxAge)
	}
	for _, a := range algs {
		d.algs = append(d.algs, jose.SignatureAlgorithm(a))
	}
	return d, nil
}
