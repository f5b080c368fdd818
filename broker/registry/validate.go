package registry

import (
	"time"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/broker/mtls"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/templates"
)

// Grant types and client authentication methods Gatehouse implements.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange" // RFC 8693 §2.1
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"    // RFC 8628 §3.4

	AuthSecretBasic   = "client_secret_basic"
	AuthSecretPost    = "client_secret_post"
	AuthPrivateKeyJWT = "private_key_jwt"
	AuthNone          = "none"
	// RFC 8705 §2.1 and §2.2: mutual-TLS client authentication, with a
	// certificate from a configured CA or one of the client's own keys.
	AuthTLSClient           = "tls_client_auth"
	AuthSelfSignedTLSClient = "self_signed_tls_client_auth"
)

// Token type identifiers of RFC 8693 §3: the subject token types a client may be
// allowed to exchange.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeSAML2       = "urn:ietf:params:oauth:token-type:saml2"
)

var (
	GrantTypes  = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantTokenExchange, GrantDeviceCode}
	AuthMethods = []string{AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT, AuthNone, AuthTLSClient, AuthSelfSignedTLSClient}
	// AssertionAlgs are the JWS algorithms accepted for private_key_jwt client
	// assertions: asymmetric only (RFC 8725 §3.1), never none or HMAC.
	AssertionAlgs = []string{"ES256", "ES384", "PS256", "RS256", "EdDSA"}
	// IDTokenAlgs are the id_token_signed_response_alg values a client may register
	// (OIDC Dynamic Client Registration §2): those Gatehouse can sign with, never
	// none (OIDC Core §3.1.3.7 lets a client refuse unsigned tokens only if we never
	// send them) or HMAC.
	IDTokenAlgs = []string{"RS256", "ES256", "EdDSA"}
	// ExchangeTokenTypes are the subject token types Gatehouse exchanges: its own
	// access tokens, upstream OIDC ID tokens and upstream SAML 2.0 assertions.
	ExchangeTokenTypes = []string{TokenTypeAccessToken, TokenTypeIDToken, TokenTypeSAML2}
)

// Problem is a validator's refusal as an error: a catalogue message, which the
// console says in its page's language, whose English is the error's text (what
// the command line and the admin API print). What was typed is always one of
// its arguments, never part of the key, so a % in it stays a %.
type Problem struct{ Msg templates.Msg }

func (p *Problem) Error() string { return p.Msg.English() }

// ProblemMsg is err's message: the Msg of a *Problem, or another error's text
// as it is.
func ProblemMsg(err error) templates.Msg {
	var p *Problem
	if errors.As(err, &p) {
		return p.Msg
	}
	return templates.M("%s", err.Error())
}

// ValidateClient returns every problem with c at once (nil if none). It checks the
// combinations too: public clients authenticate with none and cannot use
// client_credentials; confidential ones need a secret or keys.
func ValidateClient(c store.Client) error { return joinProblems(ClientProblems(c)) }

// ClientProblems is ValidateClient's list of problems (nil if none).
func ClientProblems(c store.Client) []templates.Msg {
	var p []templates.Msg
	add := func(m templates.Msg) { p = append(p, m) }
	if c.ID == "" || len(c.ID) > 128 || strings.ContainsAny(c.ID, ": \t\r\n") {
		add(templates.M("client ID must be 1–128 characters without ':' or spaces"))
	}
	if len(c.GrantTypes) == 0 {
		add(templates.M("at least one grant type is needed"))
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(GrantTypes, g) {
			add(templates.M("grant type %q is not one of %s", g, strings.Join(GrantTypes, ", ")))
		}
	}
	has := func(g string) bool { return slices.Contains(c.GrantTypes, g) }
	if has(GrantRefreshToken) && !has(GrantAuthorizationCode) && !has(GrantDeviceCode) {
		// A refresh token comes from a person's grant: the code, or a device's (RFC 8628 §3.5).
		add(templates.M("refresh_token needs authorization_code or the device_code grant"))
	}
	if has(GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		add(templates.M("authorization_code needs at least one redirect URI"))
	}
	for _, u := range c.RedirectURIs {
		if err := ValidateRedirectURI(u, c.Public); err != nil {
			add(ProblemMsg(err))
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := ValidateRedirectURI(u, c.Public); err != nil {
			add(templates.M("post-logout %s", ProblemMsg(err)))
		}
	}
	switch m := c.TokenEndpointAuthMethod; {
	case !slices.Contains(AuthMethods, m):
		add(templates.M("token endpoint auth method %q is not one of %s", m, strings.Join(AuthMethods, ", ")))
	case c.Public != (m == AuthNone):
		add(templates.M("public clients, and only they, use token endpoint auth method none"))
	case (m == AuthSecretBasic || m == AuthSecretPost) && len(c.SecretHash) == 0:
		add(templates.M("%s needs a secret", m))
	case m == AuthPrivateKeyJWT && len(c.JWKS) == 0 && c.JWKSURI == "":
		add(templates.M("private_key_jwt needs a JWKS or a JWKS URI"))
	case m == AuthSelfSignedTLSClient && len(c.JWKS) == 0 && c.JWKSURI == "":
		// RFC 8705 §2.2.2: the certificate's key is one of the client's registered keys.
		add(templates.M("self_signed_tls_client_auth needs a JWKS or a JWKS URI"))
	}
	if subject := TLSClientSubject(c); c.TokenEndpointAuthMethod == AuthTLSClient {
		if sp := subject.Problem(); sp != nil {
			add(subjectProblemMsg(sp))
		}
	} else if subject != (mtls.Subject{}) {
		add(templates.M("a certificate subject is for tls_client_auth clients only"))
	}
	if c.Public && has(GrantClientCredentials) {
		add(templates.M("a public client cannot use client_credentials"))
	}
	if len(c.JWKS) > 0 {
		if err := ValidateJWKS(c.JWKS); err != nil {
			add(ProblemMsg(err))
		}
	}
	if c.JWKSURI != "" && !isHTTPS(c.JWKSURI) {
		add(templates.M("JWKS URI must be an https URL"))
	}
	if c.LogoURI != "" && !isHTTPS(c.LogoURI) {
		add(templates.M("logo URI must be an https URL"))
	}
	if c.ClientURI != "" && !isHTTPS(c.ClientURI) {
		add(templates.M("home page must be an https URL"))
	}
	for _, s := range c.Scopes {
		if !ValidScopeToken(s) {
			add(templates.M("scope %q is not a valid scope token", s))
		}
	}
	if a := c.IDTokenSignedResponseAlg; a != "" && !slices.Contains(IDTokenAlgs, a) {
		add(templates.M("ID token signing algorithm %q is not one of %s", a, strings.Join(IDTokenAlgs, ", ")))
	}
	if c.AccessTokenTTL < 0 || c.RefreshTokenTTL < 0 {
		add(templates.M("token lifetimes must not be negative"))
	}
	if c.Public && len(c.ResourceServerFor) > 0 {
		// RFC 7662 §2.1: the protected resource authenticates to introspect.
		add(templates.M("a public client cannot be a resource server"))
	}
	p = append(p, exchangeProblems(c)...)
	return p
}

// exchangeProblems are the problems with c's token-exchange settings that need no
// store (ExchangeProvidersProblems checks the providers exist).
func exchangeProblems(c store.Client) []templates.Msg {
	var p []templates.Msg
	add := func(m templates.Msg) { p = append(p, m) }
	if !slices.Contains(c.GrantTypes, GrantTokenExchange) {
		if len(c.ExchangeTokenTypes) > 0 || len(c.ExchangeProviders) > 0 {
			add(templates.M("exchange token types and providers need the %s grant", GrantTokenExchange))
		}
		return p
	}
	if c.Public {
		// RFC 8693 §2.1: the client authenticates to exchange a token.
		add(templates.M("a public client cannot use token exchange"))
	}
	if len(c.ExchangeTokenTypes) == 0 {
		add(templates.M("token exchange needs at least one exchange subject token type"))
	}
	for i, tt := range c.ExchangeTokenTypes {
		switch {
		case !slices.Contains(ExchangeTokenTypes, tt):
			add(templates.M("exchange token type %q is not one of %s", tt, strings.Join(ExchangeTokenTypes, ", ")))
		case slices.Contains(c.ExchangeTokenTypes[:i], tt):
			add(templates.M("exchange token type %q is listed twice", tt))
		}
	}
	if len(c.ExchangeProviders) > 0 && !slices.Contains(c.ExchangeTokenTypes, TokenTypeIDToken) &&
		!slices.Contains(c.ExchangeTokenTypes, TokenTypeSAML2) {
		// Providers' tokens are upstream ID tokens or assertions; access tokens are Gatehouse's own.
		add(templates.M("exchange providers need the id_token or saml2 exchange token type"))
	}
	return p
}

// ValidateExchangeProviders checks that every provider c may exchange the tokens of
// is a configured provider, listed once, and returns every problem at once. It is
// separate from ValidateClient because it reads the providers.
func ValidateExchangeProviders(ctx context.Context, providers store.Providers, c store.Client) error {
	p, err := ExchangeProvidersProblems(ctx, providers, c)
	if err != nil {
		return err
	}
	return joinProblems(p)
}

// ExchangeProvidersProblems is ValidateExchangeProviders' list of problems; the
// error is a failure to read the providers.
func ExchangeProvidersProblems(ctx context.Context, providers store.Providers, c store.Client) ([]templates.Msg, error) {
	var p []templates.Msg
	for i, id := range c.ExchangeProviders {
		if slices.Contains(c.ExchangeProviders[:i], id) {
			p = append(p, templates.M("exchange provider %q is listed twice", id))
			continue
		}
		_, err := providers.Get(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			p = append(p, templates.M("exchange provider %q: no provider has this ID", id))
		case err != nil:
			return nil, fmt.Errorf("validate exchange providers: %w", err)
		}
	}
	return p, nil
}

// ValidateResourceServerFor checks that every API c is registered as the resource
// server of is a registered API, listed once, and returns every problem at once.
// It is separate from ValidateClient because it reads the APIs.
func ValidateResourceServerFor(ctx context.Context, apis store.APIs, c store.Client) error {
	p, err := ResourceServerForProblems(ctx, apis, c)
	if err != nil {
		return err
	}
	return joinProblems(p)
}

// ResourceServerForProblems is ValidateResourceServerFor's list of problems; the
// error is a failure to read the APIs.
func ResourceServerForProblems(ctx context.Context, apis store.APIs, c store.Client) ([]templates.Msg, error) {
	var p []templates.Msg
	for i, aud := range c.ResourceServerFor {
		if slices.Contains(c.ResourceServerFor[:i], aud) {
			p = append(p, templates.M("resource server for %q is listed twice", aud))
			continue
		}
		_, err := apis.GetByAudience(ctx, aud)
		switch {
		case errors.Is(err, store.ErrNotFound):
			p = append(p, templates.M("resource server for %q: no API has this audience", aud))
		case err != nil:
			return nil, fmt.Errorf("validate resource server: %w", err)
		}
	}
	return p, nil
}

// ValidateIDTokenAlg checks that a server whose keys sign ID tokens with supported
// (keys.IDTokenAlgorithms) can sign the client's: a server on ES256 keeps RS256 and
// ES256 keys, not EdDSA ones.
func ValidateIDTokenAlg(c store.Client, supported []string) error {
	if !slices.Contains(supported, c.IDTokenAlg()) {
		return &Problem{templates.M("this server signs ID tokens with %s only (GATEHOUSE_SIGNING_ALG adds one to RS256), not %s",
			strings.Join(supported, ", "), c.IDTokenAlg())}
	}
	return nil
}

// TLSClientSubject is the certificate subject c registered for tls_client_auth.
func TLSClientSubject(c store.Client) mtls.Subject {
	return mtls.Subject{DN: c.TLSClientAuthSubjectDN, DNS: c.TLSClientAuthSANDNS, URI: c.TLSClientAuthSANURI,
		IP: c.TLSClientAuthSANIP, Email: c.TLSClientAuthSANEmail}
}

// subjectProblemMsg is a certificate subject's problem as a catalogue message,
// with what was registered as its arguments. broker/mtls has only the English
// (p.Error(), which this message's English is): it is shared with broker/rs,
// which third-party APIs import, so it does not know the catalogues.
func subjectProblemMsg(p *mtls.Problem) templates.Msg {
	switch p.Kind {
	case mtls.NotOneSubject:
		return templates.M("tls_client_auth needs exactly one certificate subject: a subject DN, or a DNS, URI, IP or email SAN")
	case mtls.NotAnIP:
		return templates.M("certificate IP SAN %q is not an IP address", p.Value)
	case mtls.DNNoEquals:
		return templates.M("subject DN %q: an attribute has no '='", p.Value)
	case mtls.DNUnknownType:
		return templates.M("subject DN %q: unknown attribute type %q", p.Value, p.Detail)
	case mtls.DNHexValue:
		return templates.M("subject DN %q: #hex values are not supported", p.Value)
	case mtls.DNEndsWithBackslash:
		return templates.M("subject DN %q ends with '\\'", p.Value)
	case mtls.DNBadEscape:
		return templates.M("subject DN %q: bad escape", p.Value)
	case mtls.DNUnescaped:
		return templates.M("subject DN %q: %s must be escaped", p.Value, p.Detail)
	case mtls.DNNoValue:
		return templates.M("subject DN %q: %s has no value", p.Value, p.Detail)
	}
	return templates.M("%s", p.Error())
}

// ValidateJWKS checks a client's JWK Set: parseable, at least one key, public keys
// only (a private member would mean the client handed us its private key).
func ValidateJWKS(b []byte) error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return &Problem{templates.M("JWKS is not a valid JWK Set")}
	}
	if len(set.Keys) == 0 {
		return &Problem{templates.M("JWKS has no keys")}
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			return &Problem{templates.M("JWKS must hold public keys only")}
		}
	}
	return nil
}

// ValidateAPI returns every problem with a at once.
func ValidateAPI(a store.API) error { return joinProblems(APIProblems(a)) }

// APIProblems is ValidateAPI's list of problems (nil if none).
func APIProblems(a store.API) []templates.Msg {
	var p []templates.Msg
	u, err := url.Parse(a.Audience)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(a.Audience, "#") {
		// RFC 8707 §2: an absolute URI without a fragment.
		p = append(p, templates.M("audience %q must be an absolute URI without a fragment", a.Audience))
	}
	if a.Name == "" {
		p = append(p, templates.M("name is required"))
	}
	seen := map[string]bool{}
	for _, s := range a.Scopes {
		if !ValidScopeToken(s.Name) {
			p = append(p, templates.M("scope %q is not a valid scope token", s.Name))
		}
		if seen[s.Name] {
			p = append(p, templates.M("scope %q is listed twice", s.Name))
		}
		seen[s.Name] = true
	}
	return append(p, delegationPolicyProblems(a.Delegation, seen)...)
}

// MaxDelegationDuration caps an API's delegation policy: no grant runs longer
// than a year without being given again.
const MaxDelegationDuration = 365 * 24 * time.Hour

// delegationPolicyProblems checks an API's delegation policy against its scopes
// (apiScopes). A policy that does not allow delegation may keep its settings for
// when it is allowed again, but they must still make sense.
func delegationPolicyProblems(d store.DelegationPolicy, apiScopes map[string]bool) []templates.Msg {
	var p []templates.Msg
	seen := map[string]bool{}
	for _, s := range d.Scopes {
		if !apiScopes[s] {
			p = append(p, templates.M("delegable scope %q is not a scope of the API", s))
		}
		if seen[s] {
			p = append(p, templates.M("delegable scope %q is listed twice", s))
		}
		seen[s] = true
	}
	if d.MaxDuration < 0 || d.MaxDuration > MaxDelegationDuration {
		p = append(p, templates.M("delegation maximum duration must be between 0 and 365 days"))
	}
	if d.Allowed {
		if d.MaxDuration <= 0 {
			p = append(p, templates.M("delegation needs a maximum duration"))
		}
		if len(d.Scopes) == 0 {
			p = append(p, templates.M("delegation needs at least one delegable scope"))
		}
	}
	return p
}

// ValidScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ), at most 128 characters.
func ValidScopeToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func isHTTPS(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil && u.Fragment == ""
}

// joinProblems is the error of a validator: its problems in one message, in
// English.
func joinProblems(p []templates.Msg) error {
	if len(p) > 0 {
		return errors.New(strings.Join(templates.English(p), "; "))
	}
	return nil
}
