package upstream

import (
	"errors"
	"strings"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// Error is a provider's configuration refused (Kind providers.ErrConfig), or
// an IdP that could not be reached (providers.ErrUnavailable), with its
// problems as catalogue messages: the console says them in its page's
// language. Error() is their English, one a line, after the sentinel's text:
// what the command line and the admin API print. What an admin typed or an
// IdP returned, and an underlying error's text, are arguments of the
// messages, never their keys.
type Error struct {
	Kind error // nil: a problem of a part (a domain), without the sentinel's text
	Msgs []templates.Msg
	Err  error // the cause, or a further sentinel (ErrIssuerTaken); may be nil
}

func (e *Error) Error() string {
	text := strings.Join(templates.English(e.Msgs), "\n")
	if e.Kind == nil {
		return text
	}
	return e.Kind.Error() + ": " + text
}

func (e *Error) Unwrap() []error {
	var out []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// configErr refuses a configuration for msgs.
func configErr(msgs ...templates.Msg) error {
	return &Error{Kind: providers.ErrConfig, Msgs: msgs}
}

// causeErr is kind for the message m about err, which it wraps.
func causeErr(kind error, m templates.Msg, err error) error {
	return &Error{Kind: kind, Msgs: []templates.Msg{m}, Err: err}
}

// Messages are err's problems as catalogue messages: an *Error's, or any
// other error's text without the providers sentinel, a message a line, as
// worded (a providers file's parser).
func Messages(err error) []templates.Msg {
	var e *Error
	if errors.As(err, &e) && err.Error() == e.Error() {
		return e.Msgs
	}
	msg := err.Error()
	for _, s := range []error{providers.ErrUnavailable, providers.ErrConfig} {
		msg = strings.TrimPrefix(msg, s.Error()+": ")
	}
	lines := strings.Split(msg, "\n")
	out := make([]templates.Msg, len(lines))
	for i, l := range lines {
		out[i] = templates.M("%s", l)
	}
	return out
}

// providerConfigErr is a provider package's refusal of its configuration or
// of IdP metadata (*providers.ConfigError) as an *Error whose messages are its problems
// (configProblemMsg), with the same English; other errors pass as they are.
func providerConfigErr(err error) error {
	var ce *providers.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	msgs := make([]templates.Msg, len(ce.Problems))
	for i, p := range ce.Problems {
		msgs[i] = configProblemMsg(p)
	}
	return &Error{Kind: providers.ErrConfig, Msgs: msgs, Err: err}
}

// configProblemMsg is a provider package's configuration problem as a
// catalogue message, quoting what was given as its arguments. The providers
// packages have only the English (p.Error(), which this message's English
// is): they know nothing of pages.
func configProblemMsg(p *providers.ConfigProblem) templates.Msg {
	a := p.Arg
	switch p.Code {
	case providers.MappingNoSubject:
		return templates.M("mapping.subject is required: a mapping replaces the default one, so it must name the subject claim")
	case providers.IDRequired:
		return templates.M("%s: ID is required", a(0))
	case providers.ClockSkewRange:
		return templates.M("%s: ClockSkew must be between 0 and %s", a(0), a(1))
	case providers.IssuerNotAbsolute:
		return templates.M("oidc.issuer %q is not an absolute URL", a(0))
	case providers.IssuerQueryOrFragment:
		return templates.M("oidc.issuer must not have a query or fragment")
	case providers.IssuerRefused:
		// safehttp's reason stays in its English, as "issuer: %s" does at discovery.
		return templates.M("oidc.issuer: %s", a(0))
	case providers.ClientIDRequired:
		return templates.M("%s is required", "oidc.client_id")
	case providers.SigningAlgNotAllowed:
		return templates.M("oidc.signing_algs: signing algorithm %q not allowed (allowed: %s)", a(0), a(1))
	case providers.AuthParamNoName:
		return templates.M("oidc.auth_params: an authorization parameter needs a name")
	case providers.AuthParamReserved:
		return templates.M("oidc.auth_params: the authorization parameter %q is set by Gatehouse itself and cannot be given", a(0))
	case providers.HTTPClientTimeout:
		return templates.M("oidc: HTTPClient must have a Timeout of at most %s", a(0))
	case providers.EndpointNotAbsolute:
		return templates.M("saml: %s %q is not an absolute URL", a(0), a(1))
	case providers.IdPMetadataRequired:
		return templates.M("saml: IdPMetadata is required")
	case providers.SPKeyRequired:
		return templates.M("saml: SP Key and Certificate are required")
	case providers.SPKeyMismatch:
		return templates.M("saml: SP Certificate does not match Key")
	case providers.RequestBindingUnknown:
		return templates.M("saml.request_binding %q is not redirect or post", a(0))
	case providers.SPMetadataValidityRange:
		return templates.M("saml.sp_metadata_validity must be between %s and %s", a(0), a(1))
	case providers.MetadataTooLarge:
		return templates.M("metadata larger than %s bytes", a(0))
	case providers.MetadataDTD:
		return templates.M("metadata: document type declarations are not allowed")
	case providers.MetadataUnparsable:
		// The XML parser's reason stays in its English, as at a fetch.
		return templates.M("metadata: %s", a(0))
	case providers.MetadataNoEntityID:
		return templates.M("metadata: no entityID")
	case providers.MetadataNoIDPSSODescriptor:
		return templates.M("metadata: no IDPSSODescriptor")
	case providers.MetadataUndecodableCert:
		return templates.M("metadata: undecodable certificate")
	case providers.MetadataUnparsableCert:
		return templates.M("metadata: unparsable certificate: %s", a(0))
	case providers.MetadataUnsupportedKey:
		return templates.M("metadata: signing certificate with unsupported key type")
	case providers.MetadataSSOLocation:
		return templates.M("metadata: SingleSignOnService: location %q is not an https URL", a(0))
	case providers.MetadataSLOLocation:
		return templates.M("metadata: SingleLogoutService: location %q is not an https URL", a(0))
	case providers.MetadataNoSigningCert:
		return templates.M("metadata: no signing certificate")
	case providers.MetadataNoSSO:
		return templates.M("metadata: no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding")
	}
	// IdPMetadataUnusable: the broker parsed the metadata with the stricter
	// check first (parseMetadata), so a provider it builds does not get here.
	return templates.M("%s", p.Error())
}

// mappingProblemMsg is a problem of kind's mapping, naming the field after
// the kind ("oidc.mapping.subject") as the providers file writes it.
func mappingProblemMsg(kind string, p *providers.ConfigProblem) templates.Msg {
	if p.Code == providers.MappingNoSubject {
		return templates.M("%s.mapping.subject is required: a mapping replaces the default one, so it must name the subject claim", kind)
	}
	return templates.M("%s.%s", kind, configProblemMsg(p))
}
