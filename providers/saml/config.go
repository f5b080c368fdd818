// Package saml implements providers.Provider for upstream SAML 2.0 identity
// providers with crewjam/saml: one ServiceProvider per provider, signed
// AuthnRequests (unless turned off), the HTTP-POST response binding only, and Gatehouse's own
// checks on top of crewjam's (size, DOCTYPE and UTF-8-only limits before
// parsing, exactly one assertion naming exactly one principal, only
// enveloped-signature and exclusive c14n signature transforms, tighter
// clock skew). Each accepted assertion or
// LogoutRequest ID is returned as a providers.ReplayKey for the broker to
// record once (SAML-Prof §4.1.4.5; SECURITY.md SAML-23).
package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"net/url"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/providers"
)

// Binding names for Config.RequestBinding.
const (
	BindingRedirect = "redirect"
	BindingPOST     = "post"
)

// Defaults for zero Config fields.
const (
	DefaultMaxResponseBytes = 256 << 10
	DefaultPendingTTL       = 10 * time.Minute
	DefaultClockSkew        = 90 * time.Second
	// DefaultSPMetadataValidity is how long SP metadata stays valid; IdPs
	// that import it once (no refetch) keep working for a month.
	DefaultSPMetadataValidity = 30 * 24 * time.Hour
	// SPMetadataCacheDuration is the cacheDuration of SP metadata, and the
	// shortest SPMetadataValidity allowed, so that a copy an IdP refetched on
	// schedule has not expired yet.
	SPMetadataCacheDuration = 24 * time.Hour
	// MaxSPMetadataValidity matches the SP certificate's lifetime
	// (GenerateKeyPair).
	MaxSPMetadataValidity = 10 * 365 * 24 * time.Hour
)

// Config configures one SAML identity provider as seen by Gatehouse's SP.
type Config struct {
	// ID is the provider's ID in the broker.
	ID string
	// EntityID, ACSURL, SLOURL and MetadataURL are this provider's SP
	// endpoints, given by the broker (e.g. {issuer}/saml/{id}/acs).
	EntityID, ACSURL, SLOURL, MetadataURL string
	// IdPMetadata comes from ParseIdPMetadata.
	IdPMetadata *crewjam.EntityDescriptor
	// Key and Certificate are the SP key pair (see GenerateKeyPair); they
	// sign AuthnRequests and logout messages and decrypt assertions.
	Key         *rsa.PrivateKey
	Certificate *x509.Certificate
	// RequireSignedAssertion refuses assertions that rely on the Response
	// signature alone. saml-profiles §4.1.4.5 accepts either, so it is off
	// by default; crewjam always requires one of the two.
	RequireSignedAssertion bool
	// AllowIDPInitiated accepts unsolicited responses (Complete with nil
	// pending). Off by default (SECURITY.md SAML-35).
	AllowIDPInitiated bool
	// UnsignedRequests sends AuthnRequests unsigned, for an IdP that cannot
	// verify them; the SP metadata then says AuthnRequestsSigned="false"
	// (saml-metadata §2.4.4). Off by default: requests are signed with
	// RSA-SHA256. Logout messages are signed either way (saml-profiles
	// §4.4.3.1).
	UnsignedRequests bool
	// RequireEncryptedAssertions refuses, at the ACS, a Response whose
	// assertion is a plain saml:Assertion rather than a
	// saml:EncryptedAssertion (saml-core §2.3.4), so that attributes never
	// cross the browser in the clear. Off by default: saml-profiles
	// §4.1.4.2 allows either.
	RequireEncryptedAssertions bool
	// ClockSkew on NotBefore/NotOnOrAfter, at most crewjam's MaxClockSkew
	// (180 s), which is always applied too. Default 90 s.
	ClockSkew time.Duration
	// NameIDFormat requested in AuthnRequests (default persistent).
	NameIDFormat string
	// RequestBinding is how AuthnRequests travel: BindingRedirect (default
	// when the IdP offers it) or BindingPOST.
	RequestBinding string
	// Mapping turns attributes into an Identity; zero means DefaultSAMLMapping.
	Mapping providers.Mapping
	// Now is the clock; default time.Now.
	Now func() time.Time
	// MaxResponseBytes bounds the decoded SAMLResponse (SAML-44).
	MaxResponseBytes int
	// PendingTTL: how long a started sign-in may take.
	PendingTTL time.Duration
	// EmailsVerified: the admin knows this IdP verifies the email
	// addresses it asserts, so Identity.EmailVerified is set when an email
	// is mapped. Off by default: SAML has no attribute saying so (WEB-25).
	EmailsVerified bool
	// SPMetadataValidity is how long the SP metadata served at MetadataURL
	// stays valid (its validUntil); between SPMetadataCacheDuration and
	// MaxSPMetadataValidity. Default DefaultSPMetadataValidity.
	SPMetadataValidity time.Duration
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var problems providers.ConfigProblems
	add := problems.Add
	if c.ID == "" {
		add(providers.IDRequired, "saml")
	}
	for name, u := range map[string]string{"EntityID": c.EntityID, "ACSURL": c.ACSURL, "SLOURL": c.SLOURL, "MetadataURL": c.MetadataURL} {
		if pu, err := url.Parse(u); err != nil || !pu.IsAbs() {
			add(providers.EndpointNotAbsolute, name, u)
		}
	}
	if c.IdPMetadata == nil {
		add(providers.IdPMetadataRequired)
	} else if err := checkIdPMetadata(c.IdPMetadata, true); err != nil {
		problems.AddErr(providers.IdPMetadataUnusable, err)
	}
	if c.Key == nil || c.Certificate == nil {
		add(providers.SPKeyRequired)
	} else if pub, ok := c.Certificate.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(c.Key.Public()) {
		add(providers.SPKeyMismatch)
	}
	if c.ClockSkew < 0 || c.ClockSkew > crewjam.MaxClockSkew {
		add(providers.ClockSkewRange, "saml", crewjam.MaxClockSkew.String())
	}
	switch c.RequestBinding {
	case "", BindingRedirect, BindingPOST:
	default:
		add(providers.RequestBindingUnknown, c.RequestBinding)
	}
	if v := c.SPMetadataValidity; v != 0 && (v < SPMetadataCacheDuration || v > MaxSPMetadataValidity) {
		add(providers.SPMetadataValidityRange, SPMetadataCacheDuration.String(), MaxSPMetadataValidity.String())
	}
	problems.Mapping(c.Mapping)
	return problems.Err()
}

func (c *Config) setDefaults() {
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.NameIDFormat == "" {
		c.NameIDFormat = string(crewjam.PersistentNameIDFormat)
	}
	if c.Mapping.IsZero() {
		c.Mapping = providers.DefaultSAMLMapping()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.PendingTTL == 0 {
		c.PendingTTL = DefaultPendingTTL
	}
	if c.SPMetadataValidity == 0 {
		c.SPMetadataValidity = DefaultSPMetadataValidity
	}
}
