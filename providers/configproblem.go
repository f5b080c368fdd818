package providers

import (
	"fmt"
	"strings"
)

// ConfigCode is what is wrong with a provider's configuration: a
// ConfigProblem's kind. The broker says each in the page's language; this
// package has only the English (ConfigProblem.Error), as the command line, the
// admin API and the logs give it.
type ConfigCode int

// The codes of ConfigProblem, each with its Args. Fields are named as
// Gatehouse's providers file writes them ("oidc.client_id"); the settings the
// broker fills in itself (ID, endpoints, keys, clock skew, HTTP client) by
// their Go names.
const (
	// MappingNoSubject: a mapping without mapping.subject.
	MappingNoSubject ConfigCode = iota + 1
	// IDRequired: Args kind ("oidc", "saml").
	IDRequired
	// ClockSkewRange: Args kind, the largest skew allowed.
	ClockSkewRange
	// IssuerNotAbsolute: Args the issuer as given.
	IssuerNotAbsolute
	// IssuerQueryOrFragment: the issuer has a query or a fragment.
	IssuerQueryOrFragment
	// IssuerRefused: Args why the outbound policy refuses the issuer URL
	// (safehttp's words). Err is its error.
	IssuerRefused
	// ClientIDRequired: oidc.client_id is empty.
	ClientIDRequired
	// SigningAlgNotAllowed: Args the algorithm as given, the allowed ones.
	SigningAlgNotAllowed
	// AuthParamNoName: an extra authorization parameter without a name.
	AuthParamNoName
	// AuthParamReserved: Args the parameter's name.
	AuthParamReserved
	// HTTPClientTimeout: Args the longest timeout allowed.
	HTTPClientTimeout
	// EndpointNotAbsolute: Args the SP endpoint's Go name, its URL.
	EndpointNotAbsolute
	// IdPMetadataRequired: no IdP metadata.
	IdPMetadataRequired
	// IdPMetadataUnusable: the IdP metadata fails the checks of a parse; Err
	// is that error and the English its text, Args nothing.
	IdPMetadataUnusable
	// SPKeyRequired: the SP key or certificate is missing.
	SPKeyRequired
	// SPKeyMismatch: the SP certificate is not of the SP key.
	SPKeyMismatch
	// RequestBindingUnknown: Args the binding as given.
	RequestBindingUnknown
	// SPMetadataValidityRange: Args the shortest and the longest validity.
	SPMetadataValidityRange
	// MetadataTooLarge: Args the largest size in bytes.
	MetadataTooLarge
	// MetadataDTD: the metadata has a document type declaration.
	MetadataDTD
	// MetadataUnparsable: Args why it could not be read (the parser's words); Err is its error.
	MetadataUnparsable
	// MetadataNoEntityID: no entityID.
	MetadataNoEntityID
	// MetadataNoIDPSSODescriptor: no IDPSSODescriptor.
	MetadataNoIDPSSODescriptor
	// MetadataUndecodableCert: a certificate that is not base64.
	MetadataUndecodableCert
	// MetadataUnparsableCert: Args why (crypto/x509's words); Err is its error.
	MetadataUnparsableCert
	// MetadataUnsupportedKey: a signing certificate neither RSA nor ECDSA.
	MetadataUnsupportedKey
	// MetadataSSOLocation: Args the SingleSignOnService location, not https.
	MetadataSSOLocation
	// MetadataSLOLocation: Args the SingleLogoutService location, not https.
	MetadataSLOLocation
	// MetadataNoSigningCert: no signing certificate.
	MetadataNoSigningCert
	// MetadataNoSSO: no SingleSignOnService with a binding Gatehouse uses.
	MetadataNoSSO
)

// configEnglish is each code's English, filled with its Args.
var configEnglish = map[ConfigCode]string{
	MappingNoSubject:        "mapping.subject is required: a mapping replaces the default one, so it must name the subject claim",
	IDRequired:              "%s: ID is required",
	ClockSkewRange:          "%s: ClockSkew must be between 0 and %s",
	IssuerNotAbsolute:       "oidc.issuer %q is not an absolute URL",
	IssuerQueryOrFragment:   "oidc.issuer must not have a query or fragment",
	IssuerRefused:           "oidc.issuer: %s",
	ClientIDRequired:        "oidc.client_id is required",
	SigningAlgNotAllowed:    "oidc.signing_algs: signing algorithm %q not allowed (allowed: %s)",
	AuthParamNoName:         "oidc.auth_params: an authorization parameter needs a name",
	AuthParamReserved:       "oidc.auth_params: the authorization parameter %q is set by Gatehouse itself and cannot be given",
	HTTPClientTimeout:       "oidc: HTTPClient must have a Timeout of at most %s",
	EndpointNotAbsolute:     "saml: %s %q is not an absolute URL",
	IdPMetadataRequired:     "saml: IdPMetadata is required",
	SPKeyRequired:           "saml: SP Key and Certificate are required",
	SPKeyMismatch:           "saml: SP Certificate does not match Key",
	RequestBindingUnknown:   "saml.request_binding %q is not redirect or post",
	SPMetadataValidityRange: "saml.sp_metadata_validity must be between %s and %s",

	MetadataTooLarge:           "metadata larger than %s bytes",
	MetadataDTD:                "metadata: document type declarations are not allowed",
	MetadataUnparsable:         "metadata: %s",
	MetadataNoEntityID:         "metadata: no entityID",
	MetadataNoIDPSSODescriptor: "metadata: no IDPSSODescriptor",
	MetadataUndecodableCert:    "metadata: undecodable certificate",
	MetadataUnparsableCert:     "metadata: unparsable certificate: %s",
	MetadataUnsupportedKey:     "metadata: signing certificate with unsupported key type",
	MetadataSSOLocation:        "metadata: SingleSignOnService: location %q is not an https URL",
	MetadataSLOLocation:        "metadata: SingleLogoutService: location %q is not an https URL",
	MetadataNoSigningCert:      "metadata: no signing certificate",
	MetadataNoSSO:              "metadata: no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding",
}

// ConfigProblem is one thing wrong with a provider's configuration: its code
// and the values its message quotes (as given, never part of a format).
type ConfigProblem struct {
	Code ConfigCode
	Args []string
	Err  error // the cause, for IssuerRefused and IdPMetadataUnusable
}

// Error is the problem in English.
func (p *ConfigProblem) Error() string {
	if p.Code == IdPMetadataUnusable {
		if p.Err == nil {
			return "saml: IdPMetadata is unusable"
		}
		return p.Err.Error()
	}
	format, ok := configEnglish[p.Code]
	if !ok {
		return fmt.Sprintf("provider configuration problem %d", int(p.Code))
	}
	args := make([]any, len(p.Args))
	for i, a := range p.Args {
		args[i] = a
	}
	return fmt.Sprintf(format, args...)
}

func (p *ConfigProblem) Unwrap() error { return p.Err }

// Arg is argument i, or "" when there is none.
func (p *ConfigProblem) Arg(i int) string {
	if i < len(p.Args) {
		return p.Args[i]
	}
	return ""
}

// ConfigError is a configuration Validate refused: every problem, one a line
// in its English after ErrConfig's text, which it wraps.
type ConfigError struct{ Problems []*ConfigProblem }

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return ErrConfig.Error() + ": " + strings.Join(lines, "\n")
}

func (e *ConfigError) Unwrap() []error {
	out := []error{ErrConfig}
	for _, p := range e.Problems {
		out = append(out, p)
	}
	return out
}

// Refuse is a *ConfigError of the one problem code, caused by cause (or nil).
func Refuse(code ConfigCode, cause error, args ...string) error {
	return &ConfigError{Problems: []*ConfigProblem{{Code: code, Args: args, Err: cause}}}
}
