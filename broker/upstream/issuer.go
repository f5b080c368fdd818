package upstream

import (
	"context"
	"errors"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/crewjam/saml/samlsp"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// A provider's identity is its issuer: the OIDC issuer, or the SAML IdP's
// entity ID. Identities are keyed (provider ID, subject), and a subject is
// unique only at its issuer (OIDC Core §5.7, saml-core §2.2.3), so two
// providers with one issuer would split one person in two, and re-pointing a
// provider at another issuer would hand its people's accounts to whoever has
// the same subject there.

// ErrIssuerTaken: another provider already has this issuer or entity ID. Its
// text begins the refusal's message (checkIssuer), which says it in full.
var ErrIssuerTaken = errors.New("another provider has this issuer")

// ErrIssuerInUse: the provider's issuer cannot change while identities are
// linked at it.
var ErrIssuerInUse = errors.New("the issuer of a provider with linked identities cannot change")

// Store is what Upsert reads and writes: provider records, and the identities
// linked at them.
type Store interface {
	Providers() store.Providers
	Identities() store.Identities
}

// IssuerOf returns the provider's issuer in canonical form (CanonicalIssuer).
func IssuerOf(c store.ProviderConfig) (string, error) {
	switch c.Kind {
	case KindOIDC:
		s, err := DecodeOIDC(c.Settings)
		if err != nil {
			return "", err
		}
		return CanonicalIssuer(s.Issuer), nil
	case KindSAML:
		s, err := DecodeSAML(c.Settings)
		if err != nil {
			return "", err
		}
		return entityIDOf(s.MetadataXML)
	}
	return "", configErr(templates.M("unknown kind %q", c.Kind))
}

func entityIDOf(metadataXML string) (string, error) {
	md, err := samlsp.ParseMetadata([]byte(metadataXML))
	if err != nil {
		return "", causeErr(providers.ErrConfig, templates.M("metadata: %s", err.Error()), err)
	}
	return CanonicalIssuer(md.EntityID), nil
}

// CanonicalIssuer is the form issuers and entity IDs are compared in. A URL
// has its scheme and host lower-cased, a default port dropped, dot segments
// resolved and a trailing slash removed (RFC 3986 §6.2.2-6.2.3); anything else
// (a URN entity ID) is only trimmed and has its scheme lower-cased.
func CanonicalIssuer(raw string) string {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Opaque != "" || u.Host == "" {
		return u.String()
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	u.Host = host
	if strings.Contains(host, ":") {
		u.Host = "[" + host + "]"
	}
	if port != "" {
		u.Host += ":" + port
	}
	u.Path = strings.TrimSuffix(path.Clean("/"+u.Path), "/")
	u.RawPath, u.Fragment, u.RawFragment = "", "", ""
	return u.String()
}

// checkIssuer refuses cfg when another provider has its issuer, or when it
// changes the issuer of a provider that has linked identities.
func checkIssuer(ctx context.Context, st Store, cfg, old store.ProviderConfig, created bool) error {
	iss, err := IssuerOf(cfg)
	if err != nil {
		return err
	}
	all, err := st.Providers().List(ctx)
	if err != nil {
		return err
	}
	for _, p := range all {
		if p.ID == cfg.ID {
			continue
		}
		if other, err := IssuerOf(p); err == nil && other == iss {
			return &Error{Kind: providers.ErrConfig, Err: ErrIssuerTaken,
				Msgs: []templates.Msg{templates.M("another provider has this issuer: provider %q already has issuer %s", p.ID, iss)}}
		}
	}
	if created {
		return nil
	}
	was, err := IssuerOf(old)
	if err != nil || was == iss {
		return nil // an unreadable old configuration has nothing to keep apart
	}
	n, err := st.Identities().CountForProvider(ctx, cfg.ID)
	if err != nil {
		return err
	}
	if n > 0 {
		return &Error{Kind: providers.ErrConfig, Err: ErrIssuerInUse,
			Msgs: []templates.Msg{templates.M("the issuer of a provider with linked identities cannot change: provider %[1]q has %[2]s linked identities from %[3]s; add the new issuer %[4]s as a new provider",
				cfg.ID, strconv.Itoa(n), was, iss)}}
	}
	return nil
}
