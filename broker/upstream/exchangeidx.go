package upstream

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/broker/store"
)

// ExchangeProvider returns the enabled provider of kind that takes tokens from
// issuer for exchange (ExchangeSettings.Enabled): the OIDC provider whose
// issuer, or the SAML provider whose IdP entity ID, is issuer in canonical form
// (RFC 8693 §2.1; SECURITY.md AS-TX-02). ErrUnknown if there is none: the issuer
// is unknown, or configured for sign-in only. Issuers are unique across
// providers (checkIssuer), so at most one matches. The lookup is a map rebuilt
// when the configurations change, not a scan per request.
func (r *Registry) ExchangeProvider(ctx context.Context, kind, issuer string) (*Built, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.sync(ctx); err != nil {
		return nil, err
	}
	if r.exchangeBy == nil {
		r.exchangeBy = exchangeIndex(r.configs)
	}
	id, ok := r.exchangeBy[kind+" "+CanonicalIssuer(issuer)]
	if !ok {
		return nil, fmt.Errorf("%w: no %s provider takes tokens of this issuer for exchange", ErrUnknown, kind)
	}
	b, err := r.getLocked(ctx, id)
	if err != nil {
		return nil, err
	}
	if !b.Common.Exchange.Enabled || b.Config.Kind != kind {
		// Edited between the index and the build: the built one decides.
		return nil, fmt.Errorf("%w: provider %q takes no tokens for exchange", ErrUnknown, id)
	}
	return b, nil
}

// exchangeIndex maps "kind issuer" to the ID of each enabled provider with
// exchange enabled; configurations that do not decode are left out (Get reports them).
func exchangeIndex(cs []store.ProviderConfig) map[string]string {
	m := map[string]string{}
	for _, c := range cs {
		if !c.Enabled {
			continue
		}
		var x ExchangeSettings
		switch c.Kind {
		case KindOIDC:
			s, err := DecodeOIDC(c.Settings)
			if err != nil {
				continue
			}
			x = s.Exchange
		case KindSAML:
			s, err := DecodeSAML(c.Settings)
			if err != nil {
				continue
			}
			x = s.Exchange
		}
		if !x.Enabled {
			continue
		}
		if iss, err := IssuerOf(c); err == nil && iss != "" {
			m[c.Kind+" "+iss] = c.ID
		}
	}
	return m
}

// sameVersions reports whether two listings hold the same provider versions.
func sameVersions(a, b []store.ProviderConfig) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Version != b[i].Version || a[i].Enabled != b[i].Enabled || !a[i].CreatedAt.Equal(b[i].CreatedAt) ||
			!unchanged(a[i], b[i]) {
			return false
		}
	}
	return true
}
