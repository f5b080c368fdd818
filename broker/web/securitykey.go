package web

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/broker/store"
)

// Security keys and passkeys as a second factor (issue 15). The ceremonies are
// package passkeys'; what the OAuth server and the console need to send a
// person there, and to know whether they have been, is here.

// ACRSecurityKey is the acr value Gatehouse documents (discovery's
// acr_values_supported): a client asking for it with acr_values or an essential
// acr claim (OIDC Core §3.1.2.1, §5.5.1.1) gets a session stepped up with a
// security key or passkey, and this acr in the ID token.
const ACRSecurityKey = "urn:gatehouse:acr:security-key"

// RFC 8176 §2 amr values a step-up adds: hwk for a roaming hardware key, swk
// for a platform or synced passkey (the key lives in software the platform
// manages), and mfa, as the upstream sign-in was the first factor.
const (
	AMRHardwareKey = "hwk"
	AMRSoftwareKey = "swk"
	AMRMultiFactor = "mfa"
)

// StepUpPath is the "Use your security key" page; return_to is where the
// person goes afterwards.
const StepUpPath = "/security-key"

// StepUpURL is the step-up page that returns to returnTo.
func StepUpURL(returnTo string) string {
	return StepUpPath + "?" + url.Values{"return_to": {returnTo}}.Encode()
}

// SteppedUp reports whether the session has used a security key. Only a
// step-up sets ACRSecurityKey: a session's acr from an upstream IdP never is
// (UpstreamACR), so an IdP cannot claim Gatehouse's own second factor.
func SteppedUp(sess store.Session) bool { return sess.ACR == ACRSecurityKey }

// UpstreamACR is the acr an upstream IdP reported, kept for the session unless
// it is Gatehouse's own ACRSecurityKey.
func UpstreamACR(acr string) string {
	if acr == ACRSecurityKey {
		return ""
	}
	return acr
}

// WithoutSecurityKeyACR drops ACRSecurityKey from acr values an upstream IdP
// is asked for: the step-up is Gatehouse's, after the upstream sign-in.
func WithoutSecurityKeyACR(values []string) []string {
	if !slices.Contains(values, ACRSecurityKey) {
		return values
	}
	return slices.DeleteFunc(slices.Clone(values), func(v string) bool { return v == ACRSecurityKey })
}

// SecurityKeyRequired reports whether policy requires sess to use a security
// key: the person has one of GATEHOUSE_SECURITY_KEY_ROLES (from the
// provider's role rules or granted), or signed in at one of
// GATEHOUSE_SECURITY_KEY_PROVIDERS.
func (c *Core) SecurityKeyRequired(ctx context.Context, sess store.Session) (bool, error) {
	if slices.Contains(c.Config.SecurityKeyProviders, sess.ProviderID) {
		return true, nil
	}
	if len(c.Config.SecurityKeyRoles) == 0 {
		return false, nil
	}
	roles, err := c.Roles(ctx, sess)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(c.Config.SecurityKeyRoles, r) }), nil
}

// LocalReturnTo keeps only a same-origin relative path (SAML-36, BCP §4.11): no
// scheme, no host, no "//" or "/\" that browsers read as another host, no
// control characters. Anything else is def.
func LocalReturnTo(raw, def string) string {
	if raw == "" || len(raw) > 1024 || raw[0] != '/' || strings.HasPrefix(raw, "//") || strings.HasPrefix(raw, "/\\") {
		return def
	}
	for _, c := range raw {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return def
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return def
	}
	return u.RequestURI()
}
