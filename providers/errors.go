package providers

import (
	"errors"
	"fmt"
)

// The errors a provider returns wrap one of these sentinels (checked with
// errors.Is), so the broker can pick a page without reading error text. The
// wrapped detail is for the log only: never show err.Error() to a person.
var (
	// ErrInvalidResponse: the IdP's response failed verification (signature,
	// audience, expiry, state, nonce, shape...). Possibly an attack.
	ErrInvalidResponse = errors.New("providers: invalid response from identity provider")
	// ErrReplay: the response was already used: one of its ReplayKeys was
	// recorded before (by the caller, which wraps this sentinel).
	ErrReplay = errors.New("providers: response already used")
	// ErrUnavailable: the IdP could not be reached or answered with a server
	// error (discovery, JWKS, token endpoint). Retrying may help.
	ErrUnavailable = errors.New("providers: identity provider unavailable")
	// ErrConfig: the provider's configuration or the IdP's metadata is not
	// usable (e.g. SAML metadata without a signing certificate).
	ErrConfig = errors.New("providers: provider configuration unusable")
	// ErrUpstream: the IdP refused the sign-in itself; the error is an
	// *UpstreamError carrying what it said.
	ErrUpstream = errors.New("providers: identity provider refused the sign-in")
)

// UpstreamError is an error response from the IdP (OIDC Core §3.1.2.6
// error=access_denied, a SAML non-success StatusCode). Code and Description
// are untrusted text from the network: escape them when shown and do not use
// them to make decisions beyond choosing a message.
type UpstreamError struct {
	// Code is the OAuth error code or SAML status code URI.
	Code string
	// Description is error_description (truncated); empty for SAML, whose
	// StatusMessage is not passed on (SECURITY.md SAML-37).
	Description string
}

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("providers: identity provider returned error %q", e.Code)
}

// Is makes errors.Is(err, ErrUpstream) true for an *UpstreamError.
func (e *UpstreamError) Is(target error) bool { return target == ErrUpstream }

// AccessDenied reports whether the IdP said the user declined or is not
// allowed (OAuth access_denied, SAML RequestDenied/AuthnFailed).
func (e *UpstreamError) AccessDenied() bool {
	switch e.Code {
	case "access_denied", "urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
		"urn:oasis:names:tc:SAML:2.0:status:AuthnFailed":
		return true
	}
	return false
}

// Invalid wraps detail as an ErrInvalidResponse.
func Invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrInvalidResponse, fmt.Errorf(format, args...))
}

// PublicMessage returns a plain sentence safe to show a person for err,
// chosen by its sentinel only. It never includes text from err.
func PublicMessage(err error) string {
	var up *UpstreamError
	switch {
	case errors.As(err, &up) && up.AccessDenied():
		return "Your organisation's sign-in service did not allow the sign-in."
	case errors.Is(err, ErrUpstream):
		return "Your organisation's sign-in service reported an error."
	case errors.Is(err, ErrReplay):
		return "This sign-in response was already used. Please sign in again."
	case errors.Is(err, ErrUnavailable):
		return "Your organisation's sign-in service could not be reached. Please try again later."
	case errors.Is(err, ErrConfig):
		return "This sign-in option is not configured correctly. Please contact your administrator."
	default:
		return "The sign-in could not be verified. Please sign in again."
	}
}

// ConfigProblems collects what is wrong with a provider configuration, so that
// Validate reports every problem at once rather than the first.
type ConfigProblems struct{ problems []*ConfigProblem }

// Add records a problem of code with its arguments.
func (p *ConfigProblems) Add(code ConfigCode, args ...string) {
	p.problems = append(p.problems, &ConfigProblem{Code: code, Args: args})
}

// AddErr records a problem of code caused by err.
func (p *ConfigProblems) AddErr(code ConfigCode, err error, args ...string) {
	p.problems = append(p.problems, &ConfigProblem{Code: code, Args: args, Err: err})
}

// Mapping records what is wrong with m, if it is set.
func (p *ConfigProblems) Mapping(m Mapping) {
	if m.IsZero() {
		return
	}
	var cp *ConfigProblem
	if errors.As(m.Validate(), &cp) {
		p.problems = append(p.problems, cp)
	}
}

// Err is nil if nothing was recorded, else a *ConfigError with every problem,
// wrapping ErrConfig.
func (p *ConfigProblems) Err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return &ConfigError{Problems: p.problems}
}
