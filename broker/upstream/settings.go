// Package upstream turns stored provider configurations into live upstream
// providers: the per-kind settings format, sealed secrets, SP key pairs, SAML
// metadata fetching, role rules, and a registry that rebuilds a provider when an
// admin's edit changes its version.
package upstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/emailaddr"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// Kinds of provider.
const (
	KindOIDC = "oidc"
	KindSAML = "saml"
)

// RoleRule gives Role to a user whose Claim (an OIDC claim, a SAML attribute
// name, or "groups" for the mapped groups) has Value among its values. Roles come
// only from these rules, never from a claim naming a role (WEB-28).
type RoleRule struct {
	Claim string `json:"claim"`
	Value string `json:"value"`
	Role  string `json:"role"`
}

// Common are the settings every kind has.
type Common struct {
	// LogoURL is shown on the provider list; only https URLs are shown (WEB-17).
	LogoURL string `json:"logo_url,omitempty"`
	// Mapping overrides the kind's default claim mapping when not zero.
	Mapping   providers.Mapping `json:"mapping,omitzero"`
	RoleRules []RoleRule        `json:"role_rules,omitempty"`
	// SkipUpstreamLogout keeps a Gatehouse logout (the account page's, or an
	// application's RP-initiated one) from going on to the provider's own
	// logout (OIDC end_session_endpoint, SAML single logout). Off by default:
	// signing out of Gatehouse also signs out upstream where the IdP offers it.
	SkipUpstreamLogout bool `json:"skip_upstream_logout,omitempty"`
	// Exchange governs token exchange of this provider's tokens (off by default).
	Exchange ExchangeSettings `json:"exchange,omitzero"`
}

// ExchangeSettings govern this provider's tokens presented at the token endpoint
// (RFC 8693 token exchange; SECURITY.md AS-TX-02). Off unless Enabled.
type ExchangeSettings struct {
	Enabled bool `json:"enabled,omitempty"`
	// Audiences (OIDC only) are the aud values an ID token must carry (one of) to be
	// exchanged: the client IDs of the organisation's apps whose ID tokens the admin
	// allows. The provider's own client_id counts only when listed. Required when enabled.
	Audiences []string `json:"audiences,omitempty"`
	// OneTime (OIDC): each ID token is exchanged at most once (its jti, or a hash of the
	// token). SAML assertions are always accepted once, login and exchange together.
	OneTime bool `json:"one_time,omitempty"`
	// CreateUsers: an identity not yet linked to a Gatehouse user gets one (the same
	// linking rules as a first browser sign-in); otherwise it is refused.
	CreateUsers bool `json:"create_users,omitempty"`
}

// validate checks the exchange settings of a provider of kind, each problem
// naming its field after the kind ("oidc.exchange.audiences").
func (x ExchangeSettings) validate(kind string) []templates.Msg {
	var errs []templates.Msg
	switch {
	case kind == KindSAML && len(x.Audiences) > 0:
		// RFC 8693 §3 saml2; SECURITY.md AS-TX-06: the assertion is checked against
		// the same SP audience as at the ACS, never an admin-chosen one.
		errs = append(errs, templates.M("%s.exchange.audiences: a SAML assertion's audience is the SP entity ID", kind))
	case kind == KindOIDC && x.Enabled && len(x.Audiences) == 0:
		// AS-TX-02: an ID token minted for any app of the organisation must not
		// become a Gatehouse token unless the admin names that app.
		errs = append(errs, templates.M("%s.exchange.audiences: an OIDC provider enabled for token exchange needs the ID-token audiences it accepts", kind))
	}
	for i, a := range x.Audiences {
		switch {
		case a == "":
			errs = append(errs, templates.M("%[1]s.exchange.audiences[%[2]d] is empty", kind, i))
		case slices.Contains(x.Audiences[:i], a):
			errs = append(errs, templates.M("%s.exchange.audiences: %q is listed twice", kind, a))
		}
	}
	return errs
}

// OIDCSettings is store.ProviderConfig.Settings for KindOIDC.
type OIDCSettings struct {
	Common
	Issuer        string            `json:"issuer"`
	ClientID      string            `json:"client_id"`
	Scopes        []string          `json:"scopes,omitempty"`
	AuthParams    map[string]string `json:"auth_params,omitempty"`
	UserinfoMerge bool              `json:"userinfo_merge,omitempty"`
	SigningAlgs   []string          `json:"signing_algs,omitempty"`
}

// SAMLSettings is store.ProviderConfig.Settings for KindSAML.
type SAMLSettings struct {
	Common
	// MetadataURL, if set, is fetched (https only) and refreshed every
	// MetadataRefresh; MetadataXML then holds the last good copy (SAML-48/49).
	MetadataURL     string   `json:"metadata_url,omitempty"`
	MetadataXML     string   `json:"metadata_xml,omitempty"`
	MetadataRefresh Duration `json:"metadata_refresh,omitzero"`
	// MetadataFetchedAt is when MetadataXML was last fetched from MetadataURL.
	MetadataFetchedAt      time.Time `json:"metadata_fetched_at,omitzero"`
	RequireSignedAssertion bool      `json:"require_signed_assertion,omitempty"`
	NameIDFormat           string    `json:"name_id_format,omitempty"`
	RequestBinding         string    `json:"request_binding,omitempty"`
	// AllowIDPInitiated accepts unsolicited (IdP-initiated) responses at the
	// ACS. Off by default; when on, the person still confirms on an
	// interstitial page before being signed in (SAML-35).
	AllowIDPInitiated bool `json:"allow_idp_initiated,omitempty"`
	// SPCertificatePEM is the SP's public certificate; its key is a secret.
	SPCertificatePEM string `json:"sp_certificate_pem,omitempty"`
	// SPMetadataValidity is how long the SP metadata at /saml/{id}/metadata
	// stays valid (validUntil); zero means saml.DefaultSPMetadataValidity (720h).
	SPMetadataValidity Duration `json:"sp_metadata_validity,omitzero"`
	// EmailsVerified: this IdP verifies the email addresses it asserts, so
	// they count as verified (for linking by email, WEB-25). Off by default.
	EmailsVerified bool `json:"emails_verified,omitempty"`
	// SignRequests: AuthnRequests are signed (RSA-SHA256) and the SP
	// metadata says so. Absent means true, as for every provider stored
	// before the setting existed; false only for an IdP that cannot verify
	// them (see SignsRequests).
	SignRequests *bool `json:"sign_requests,omitempty"`
	// RequireEncryptedAssertions refuses, at the ACS, an assertion the IdP
	// did not encrypt to the SP certificate (the SP metadata offers it for
	// encryption). Off by default.
	RequireEncryptedAssertions bool `json:"require_encrypted_assertions,omitempty"`
}

// SignsRequests reports whether AuthnRequests are signed: unless
// SignRequests is set to false.
func (s SAMLSettings) SignsRequests() bool { return s.SignRequests == nil || *s.SignRequests }

// Secrets are sealed into store.ProviderConfig.SecretsEnc with the provider ID
// as associated data, so a sealed blob copied to another provider does not open.
type Secrets struct {
	ClientSecret string `json:"client_secret,omitempty"`
	SPKeyPEM     string `json:"sp_key_pem,omitempty"`
}

// DefaultMetadataRefresh is how often metadata from a URL is refetched.
const DefaultMetadataRefresh = Duration(6 * time.Hour)

// Duration is a time.Duration written as "6h" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"6h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

var validID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidID reports whether id may name a provider: it appears in URL paths
// (/login/{id}, /saml/{id}/acs) and cookie values.
func ValidID(id string) bool { return validID.MatchString(id) }

// validate checks the settings every kind has, each problem naming its field
// after the kind ("oidc.logo_url"), as the providers file writes it.
func (c Common) validate(kind string) []templates.Msg {
	errs := c.Exchange.validate(kind)
	if c.LogoURL != "" {
		if u, err := url.Parse(c.LogoURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, templates.M("%s.logo_url must be an https URL", kind))
		}
	}
	var mp *providers.ConfigProblem
	if !c.Mapping.IsZero() && errors.As(c.Mapping.Validate(), &mp) {
		errs = append(errs, mappingProblemMsg(kind, mp))
	}
	for i, r := range c.RoleRules {
		if r.Claim == "" || r.Value == "" || r.Role == "" {
			errs = append(errs, templates.M("%[1]s.role_rules[%[2]d]: claim, value and role are required", kind, i))
		}
	}
	return errs
}

// NormalizeDomains lower-cases, trims and deduplicates email domains and
// refuses ones that are not plain host names.
func NormalizeDomains(in []string) ([]string, error) {
	var out []string
	for _, d := range in {
		d = emailaddr.CanonicalDomain(strings.TrimPrefix(strings.TrimSpace(d), "@"))
		if d == "" {
			continue
		}
		if strings.ContainsAny(d, "@/:* ") || !strings.Contains(d, ".") {
			return nil, &Error{Msgs: []templates.Msg{templates.M("domain %q is not an email domain like example.com", d)}}
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}
