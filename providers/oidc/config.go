// Package oidc implements providers.Provider for upstream OpenID Connect
// providers: discovery, authorization code with PKCE (S256), state, nonce,
// the RFC 9207 iss response parameter, and ID token verification with
// go-oidc plus the checks go-oidc leaves to the caller (nonce, iat, azp,
// at_hash, clock skew).
package oidc

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/safehttp"
)

// Defaults for zero Config fields.
const (
	DefaultClockSkew    = time.Minute
	MaxClockSkew        = 5 * time.Minute
	DefaultDiscoveryTTL = time.Hour
	DefaultJWKSCooldown = 30 * time.Second
	DefaultJWKSMaxAge   = time.Hour
	DefaultPendingTTL   = 10 * time.Minute
)

// asymmetricAlgs are the JWS algorithms an ID token may use. HS* are absent
// on purpose: the client secret as HMAC key is not supported, which also
// rules out alg confusion with the public key (RFC 8725 §2.1, §3.1); "none"
// is never accepted.
var asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// reservedParams are authorization request parameters the provider sets
// itself; BeginParams.Extra and Config.AuthParams may not override them.
var reservedParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "response_mode", "request", "request_uri"}

// Config configures one upstream OpenID Provider.
type Config struct {
	// ID is the provider's ID in the broker.
	ID string
	// Issuer is the OP's issuer identifier; discovery must return exactly it
	// (OIDC Discovery §4.3, SECURITY.md OIDC-15).
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes requested; "openid" is always included. Default: openid email profile.
	Scopes []string
	// AuthParams are static extra authorization parameters (prompt, acr_values...).
	AuthParams map[string]string
	// UserinfoMerge fetches the UserInfo endpoint and adds its claims (ID
	// token claims win on conflict; sub must be equal, OIDC Core §5.3.2).
	UserinfoMerge bool
	// Mapping turns claims into an Identity; zero means DefaultOIDCMapping.
	Mapping providers.Mapping
	// ClockSkew tolerated on exp, iat and nbf (default 1 min, at most 5).
	ClockSkew time.Duration
	// SigningAlgs restricts ID token algorithms; default: the asymmetric
	// algorithms the OP advertises (RS256 if it advertises none).
	SigningAlgs []string
	// HTTPClient performs every outbound call; default safehttp.NewClient
	// with the production policy. Its Timeout must be set and at most
	// safehttp.DefaultTimeout.
	HTTPClient *http.Client
	// Networks are the private and loopback networks the OP may be on
	// (GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS): the Issuer must pass
	// safehttp.CheckURL with them (https, or http to a listed loopback host),
	// and the default HTTPClient may connect to them.
	Networks safehttp.Networks
	// Now is the clock; default time.Now.
	Now func() time.Time
	// DiscoveryTTL: how long discovery is cached before a refresh.
	DiscoveryTTL time.Duration
	// JWKSCooldown: the minimum time between two JWKS fetches (DOS-10).
	JWKSCooldown time.Duration
	// JWKSMaxAge: cached keys older than this are refetched before use, so a
	// key the OP removed stops verifying (OIDC-12).
	JWKSMaxAge time.Duration
	// PendingTTL: how long a started sign-in may take.
	PendingTTL time.Duration
}

// Validate reports every problem with c at once. It names the fields as
// Gatehouse's providers file writes them ("oidc.client_id"), since that is
// where an admin sets them.
func (c Config) Validate() error {
	var problems providers.ConfigProblems
	add := problems.Add
	if c.ID == "" {
		add(providers.IDRequired, "oidc")
	}
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "" || err != nil || u.Host == "":
		add(providers.IssuerNotAbsolute, c.Issuer)
	case u.RawQuery != "" || u.Fragment != "":
		add(providers.IssuerQueryOrFragment)
	default:
		// Refused before any call: an issuer on a private or loopback address
		// the admin has not listed, a metadata service, or plain http.
		if err := safehttp.CheckURL(c.Issuer, safehttp.Options{Networks: c.Networks}); err != nil {
			problems.AddErr(providers.IssuerRefused, err, err.Error())
		}
	}
	if c.ClientID == "" {
		add(providers.ClientIDRequired)
	}
	if c.ClockSkew < 0 || c.ClockSkew > MaxClockSkew {
		add(providers.ClockSkewRange, "oidc", MaxClockSkew.String())
	}
	for _, a := range c.SigningAlgs {
		if !slices.Contains(asymmetricAlgs, a) {
			add(providers.SigningAlgNotAllowed, a, strings.Join(asymmetricAlgs, " "))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.AuthParams)) {
		switch {
		case strings.TrimSpace(k) == "":
			add(providers.AuthParamNoName)
		case slices.Contains(reservedParams, k):
			add(providers.AuthParamReserved, k)
		}
	}
	// Every call to the OP (discovery, JWKS, token, userinfo) must end within
	// safehttp's bound, body included: http.Client.Timeout covers the body.
	if c.HTTPClient != nil && (c.HTTPClient.Timeout <= 0 || c.HTTPClient.Timeout > safehttp.DefaultTimeout) {
		add(providers.HTTPClientTimeout, safehttp.DefaultTimeout.String())
	}
	problems.Mapping(c.Mapping)
	return problems.Err()
}

func (c *Config) setDefaults() {
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "email", "profile"}
	} else if !slices.Contains(c.Scopes, "openid") {
		c.Scopes = append([]string{"openid"}, c.Scopes...)
	}
	if c.Mapping.IsZero() {
		c.Mapping = providers.DefaultOIDCMapping()
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.HTTPClient == nil {
		c.HTTPClient = safehttp.NewClient(safehttp.Options{Networks: c.Networks})
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.DiscoveryTTL == 0 {
		c.DiscoveryTTL = DefaultDiscoveryTTL
	}
	if c.JWKSCooldown == 0 {
		c.JWKSCooldown = DefaultJWKSCooldown
	}
	if c.JWKSMaxAge == 0 {
		c.JWKSMaxAge = DefaultJWKSMaxAge
	}
	if c.PendingTTL == 0 {
		c.PendingTTL = DefaultPendingTTL
	}
}
