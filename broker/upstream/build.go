package upstream

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/oidc"
	"github.com/gatehouse/gatehouse/providers/safehttp"
	"github.com/gatehouse/gatehouse/providers/saml"
	"github.com/gatehouse/gatehouse/templates"
)

// Env is what building providers needs from the broker.
type Env struct {
	// Issuer is Gatehouse's public base URL; callback and SAML endpoint URLs hang off it.
	Issuer  *url.URL
	Keyring *seal.Keyring
	// HTTPClient makes every outbound call (discovery, JWKS, tokens, metadata);
	// nil means a safehttp client allowing Networks.
	HTTPClient *http.Client
	// Networks are the private and loopback networks IdPs may be on
	// (GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS): they decide which issuer and
	// metadata URLs are accepted, and where the default client may connect.
	Networks safehttp.Networks
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (e Env) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

// Built is a provider ready to use, with the configuration it was built from.
type Built struct {
	Config   store.ProviderConfig
	Common   Common
	Provider providers.Provider
	// FormOrigins are the origins a browser is sent to by a form post or a
	// redirect after one (sign-in, logout), for the CSP form-action directive.
	FormOrigins []string
	// IdPInitiated: the provider accepts unsolicited SAML responses (SAML-35).
	IdPInitiated bool
}

// Endpoints are a provider's URLs at Gatehouse.
type Endpoints struct {
	Callback   string // OIDC redirect_uri
	EntityID   string // SAML SP entity ID (= its metadata URL)
	ACS        string
	SLO        string
	Metadata   string
	LogoutDone string // OIDC post_logout_redirect_uri
}

// EndpointsFor returns the URLs of provider id at issuer.
func EndpointsFor(issuer *url.URL, id string) Endpoints {
	base := issuer.String()
	saml := base + "/saml/" + id
	return Endpoints{
		Callback:   base + "/callback/" + id,
		LogoutDone: base + "/callback/" + id + "/logout",
		EntityID:   saml + "/metadata",
		ACS:        saml + "/acs",
		SLO:        saml + "/slo",
		Metadata:   saml + "/metadata",
	}
}

// decodeStrict decodes settings, refusing unknown fields so a typo (or a
// smuggled field) is an error rather than silently ignored (ADM-03).
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return causeErr(providers.ErrConfig, templates.M("settings: %s", err.Error()), err)
	}
	// One value: a Decoder stops after the first, and what follows it would go
	// unread without a word (found by FuzzParseSpecs).
	if _, err := d.Token(); err != io.EOF {
		return configErr(templates.M("settings: data after the JSON value"))
	}
	return nil
}

// DecodeOIDC reads OIDC settings.
func DecodeOIDC(b []byte) (OIDCSettings, error) {
	var s OIDCSettings
	return s, decodeStrict(b, &s)
}

// DecodeSAML reads SAML settings.
func DecodeSAML(b []byte) (SAMLSettings, error) {
	var s SAMLSettings
	return s, decodeStrict(b, &s)
}

// SealSecrets seals s for provider id.
func SealSecrets(kr *seal.Keyring, id string, s Secrets) ([]byte, error) {
	if s == (Secrets{}) {
		return nil, nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return kr.Seal(b, []byte(id))
}

// OpenSecrets opens the secrets of cfg.
func OpenSecrets(kr *seal.Keyring, cfg store.ProviderConfig) (Secrets, error) {
	var s Secrets
	if len(cfg.SecretsEnc) == 0 {
		return s, nil
	}
	b, err := kr.Open(cfg.SecretsEnc, []byte(cfg.ID))
	if err != nil {
		return s, causeErr(providers.ErrConfig, templates.M("provider %s secrets: %s", cfg.ID, sealMsg(err)), err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, configErr(templates.M("provider %s secrets unreadable", cfg.ID))
	}
	return s, nil
}

// sealMsg is why sealed secrets did not open: seal's two refusals as
// catalogue messages (their English is seal's text), anything else as it is.
func sealMsg(err error) any {
	switch err.Error() {
	case seal.ErrUnknownKey.Error():
		return templates.M("seal: sealed with a master key that is not in the keyring")
	case seal.ErrDecrypt.Error():
		return templates.M("seal: cannot decrypt: malformed, tampered with, or bound to other data")
	}
	return err.Error()
}

// Build makes the provider cfg describes. It does no network I/O: OIDC
// discovery happens on first use, SAML metadata is the stored last good copy.
func (e Env) Build(cfg store.ProviderConfig) (*Built, error) {
	if !ValidID(cfg.ID) {
		return nil, configErr(templates.M("provider ID %q", cfg.ID))
	}
	secrets, err := OpenSecrets(e.Keyring, cfg)
	if err != nil {
		return nil, err
	}
	switch cfg.Kind {
	case KindOIDC:
		s, err := DecodeOIDC(cfg.Settings)
		if err != nil {
			return nil, err
		}
		if errs := s.Common.validate(KindOIDC); len(errs) > 0 {
			return nil, configErr(errs...)
		}
		p, err := oidc.New(oidc.Config{
			ID: cfg.ID, Issuer: s.Issuer, ClientID: s.ClientID, ClientSecret: secrets.ClientSecret,
			Scopes: s.Scopes, AuthParams: s.AuthParams, UserinfoMerge: s.UserinfoMerge,
			Mapping: s.Mapping, SigningAlgs: s.SigningAlgs, HTTPClient: e.HTTPClient,
			Networks: e.Networks, Now: e.Now,
		})
		if err != nil {
			return nil, providerConfigErr(err)
		}
		return &Built{Config: cfg, Common: s.Common, Provider: p, FormOrigins: origins(s.Issuer)}, nil
	case KindSAML:
		s, err := DecodeSAML(cfg.Settings)
		if err != nil {
			return nil, err
		}
		if errs := s.Common.validate(KindSAML); len(errs) > 0 {
			return nil, configErr(errs...)
		}
		if s.MetadataXML == "" {
			return nil, configErr(templates.M("provider %s has no IdP metadata yet", cfg.ID))
		}
		md, err := e.parseMetadata([]byte(s.MetadataXML))
		if err != nil {
			return nil, err
		}
		key, cert, err := parseKeyPair(secrets.SPKeyPEM, s.SPCertificatePEM)
		if err != nil {
			return nil, causeErr(providers.ErrConfig, templates.M("provider %s SP key pair: %s", cfg.ID, err.Error()), err)
		}
		ep := EndpointsFor(e.Issuer, cfg.ID)
		p, err := saml.New(saml.Config{
			ID: cfg.ID, EntityID: ep.EntityID, ACSURL: ep.ACS, SLOURL: ep.SLO, MetadataURL: ep.Metadata,
			IdPMetadata: md, Key: key, Certificate: cert,
			RequireSignedAssertion: s.RequireSignedAssertion, NameIDFormat: s.NameIDFormat,
			RequestBinding: s.RequestBinding, Mapping: s.Mapping, Now: e.Now,
			AllowIDPInitiated: s.AllowIDPInitiated, EmailsVerified: s.EmailsVerified,
			SPMetadataValidity: time.Duration(s.SPMetadataValidity),
			UnsignedRequests:   !s.SignsRequests(), RequireEncryptedAssertions: s.RequireEncryptedAssertions,
		})
		if err != nil {
			return nil, providerConfigErr(err)
		}
		return &Built{Config: cfg, Common: s.Common, Provider: p, FormOrigins: origins(locations(md)...),
			IdPInitiated: s.AllowIDPInitiated}, nil
	}
	return nil, configErr(templates.M("provider %s has unknown kind %q", cfg.ID, cfg.Kind))
}

var originChars = regexp.MustCompile(`^https?://[A-Za-z0-9.\-\[\]:]+$`)

// origins returns the distinct scheme://host[:port] of urls; anything that does
// not look like a plain origin is left out rather than put into a CSP header.
func origins(urls ...string) []string {
	var out []string
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		o := u.Scheme + "://" + u.Host
		if originChars.MatchString(o) && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// NewSPKeyPair generates an SP key pair as PEM: the key goes into Secrets, the
// certificate into SAMLSettings.
func NewSPKeyPair(id string, now time.Time) (keyPEM, certPEM string, err error) {
	key, cert, err := saml.GenerateKeyPair("gatehouse "+id, now)
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})), nil
}

func parseKeyPair(keyPEM, certPEM string) (*rsa.PrivateKey, *x509.Certificate, error) {
	kb, _ := pem.Decode([]byte(keyPEM))
	cb, _ := pem.Decode([]byte(certPEM))
	if kb == nil || cb == nil {
		return nil, nil, errors.New("missing")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("not an RSA key")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return rk, cert, nil
}
