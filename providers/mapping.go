package providers

import "strings"

// NameIDClaim is the claim key under which SAML providers put the
// assertion's Subject NameID, so that a Mapping can name it like any
// attribute. NameIDFormatClaim holds its Format.
const (
	NameIDClaim       = "saml:NameID"
	NameIDFormatClaim = "saml:NameIDFormat"
)

// maxSubjectLen bounds Identity.Subject. OIDC Core §2 limits sub to 255
// ASCII characters; SAML NameIDs are not limited, but a longer subject is
// almost certainly not a stable identifier.
const maxSubjectLen = 512

// Mapping says which claims (OIDC) or attribute names (SAML) fill an
// Identity. Each field lists candidates tried in order; the first one present
// with a non-empty value wins.
type Mapping struct {
	Subject       []string `json:"subject,omitempty"`
	Email         []string `json:"email,omitempty"`
	EmailVerified []string `json:"email_verified,omitempty"`
	Name          []string `json:"name,omitempty"`
	// GivenName and FamilyName make up Name when no Name claim is present.
	GivenName  []string `json:"given_name,omitempty"`
	FamilyName []string `json:"family_name,omitempty"`
	Groups     []string `json:"groups,omitempty"`
	// AssumeEmailVerified treats every email from this IdP as verified. Only
	// for IdPs the admin knows to verify addresses (SAML has no such flag).
	AssumeEmailVerified bool `json:"assume_email_verified,omitempty"`
}

// DefaultOIDCMapping uses the OIDC Core §5.1 standard claims.
func DefaultOIDCMapping() Mapping {
	return Mapping{
		Subject:       []string{"sub"},
		Email:         []string{"email"},
		EmailVerified: []string{"email_verified"},
		Name:          []string{"name"},
		GivenName:     []string{"given_name"},
		FamilyName:    []string{"family_name"},
		Groups:        []string{"groups"},
	}
}

// Common SAML attribute names: eduPerson/inetOrgPerson OIDs (as Shibboleth
// and crewjam's IdP send them), Azure AD / ADFS claim URIs, and plain names.
const (
	attrMail        = "urn:oid:0.9.2342.19200300.100.1.3"
	attrDisplayName = "urn:oid:2.16.840.1.113730.3.1.241"
	attrCN          = "urn:oid:2.5.4.3"
	attrGivenName   = "urn:oid:2.5.4.42"
	attrSN          = "urn:oid:2.5.4.4"
	attrIsMemberOf  = "urn:oid:1.3.6.1.4.1.5923.1.5.1.1"
	attrAffiliation = "urn:oid:1.3.6.1.4.1.5923.1.1.1.1" // eduPersonAffiliation
	wsClaims        = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
	msGroups        = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
	msDisplayName   = "http://schemas.microsoft.com/identity/claims/displayname"
	adfsGroup       = "http://schemas.xmlsoap.org/claims/Group"
)

// DefaultSAMLMapping takes the subject from the NameID and the rest from the
// usual attribute names.
func DefaultSAMLMapping() Mapping {
	return Mapping{
		Subject:    []string{NameIDClaim},
		Email:      []string{attrMail, wsClaims + "emailaddress", "mail", "email", "emailAddress"},
		Name:       []string{attrDisplayName, msDisplayName, "displayName", attrCN, "cn"},
		GivenName:  []string{attrGivenName, wsClaims + "givenname", "givenName"},
		FamilyName: []string{attrSN, wsClaims + "surname", "sn", "surname"},
		Groups:     []string{msGroups, adfsGroup, attrIsMemberOf, "groups", "memberOf", "isMemberOf", attrAffiliation},
	}
}

// Apply builds an Identity from verified claims. It fails with
// ErrInvalidResponse when no subject is found (OIDC Core §5.3.2: sub is
// required). Claims is kept as given.
func (m Mapping) Apply(providerID string, claims map[string]any) (Identity, error) {
	sub := m.first(claims, m.Subject)
	if sub == "" {
		return Identity{}, Invalid("no subject in claims %q", m.Subject)
	}
	if len(sub) > maxSubjectLen {
		return Identity{}, Invalid("subject longer than %d bytes", maxSubjectLen)
	}
	id := Identity{
		ProviderID: providerID,
		Subject:    sub,
		Email:      m.first(claims, m.Email),
		Name:       m.first(claims, m.Name),
		Groups:     m.groups(claims),
		Claims:     claims,
	}
	if id.Email != "" {
		id.EmailVerified = m.AssumeEmailVerified || m.verified(claims)
	}
	if id.Name == "" {
		id.Name = strings.TrimSpace(m.first(claims, m.GivenName) + " " + m.first(claims, m.FamilyName))
	}
	return id, nil
}

// first returns the first non-empty string among the candidate claims. A
// multi-valued claim yields its first value.
func (m Mapping) first(claims map[string]any, names []string) string {
	for _, n := range names {
		for _, v := range StringValues(claims[n]) {
			if v != "" {
				return v
			}
		}
	}
	return ""
}

// verified reads the email_verified flag: only a boolean true, or the string
// "true" that some IdPs send, counts (OIDC-23: absent means unverified).
func (m Mapping) verified(claims map[string]any) bool {
	for _, n := range m.EmailVerified {
		switch v := claims[n].(type) {
		case bool:
			return v
		case string:
			return strings.EqualFold(v, "true")
		case []string:
			return len(v) == 1 && strings.EqualFold(v[0], "true")
		}
	}
	return false
}

// GroupsOf returns the groups m maps from claims, as Apply does: for re-deriving
// them from the stored claims of an identity's last sign-in.
func (m Mapping) GroupsOf(claims map[string]any) []string { return m.groups(claims) }

// groups returns the values of the first present group claim, deduplicated.
func (m Mapping) groups(claims map[string]any) []string {
	for _, n := range m.Groups {
		vs := StringValues(claims[n])
		if len(vs) == 0 {
			continue
		}
		seen := make(map[string]bool, len(vs))
		out := make([]string, 0, len(vs))
		for _, v := range vs {
			if v != "" && !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
		return out
	}
	return nil
}

// StringValues flattens a claim value into strings: a string, a []string
// (SAML attributes), or a JSON array of strings. Other types (numbers,
// objects) are ignored rather than formatted, so a mapping never matches a
// value the IdP did not send as text.
func StringValues(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// IsZero reports whether m is unset (so a provider uses its default).
func (m Mapping) IsZero() bool {
	return len(m.Subject)+len(m.Email)+len(m.EmailVerified)+len(m.Name)+len(m.GivenName)+
		len(m.FamilyName)+len(m.Groups) == 0 && !m.AssumeEmailVerified
}

// Validate reports a mapping that cannot produce a subject: a *ConfigProblem,
// shown to admins as one item of a list the caller wraps in ErrConfig.
func (m Mapping) Validate() error {
	if len(m.Subject) == 0 {
		return &ConfigProblem{Code: MappingNoSubject}
	}
	return nil
}
