package token

import (
	"errors"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/broker/store"
)

// IdentityScopes are OpenID Connect scopes (Core §3.1.2.1, §5.4, §11): they ask for
// identity data, not API permissions, so no API lists them and only user tokens
// carry them.
var IdentityScopes = []string{"openid", "profile", "email", "offline_access"}

// ParseScope splits a scope parameter (RFC 6749 §3.3: space-delimited, order does
// not matter) into its distinct tokens, in order of first appearance.
func ParseScope(s string) []string {
	var out []string
	for _, f := range strings.Split(s, " ") {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// FormatScope joins scopes for a scope parameter or claim.
func FormatScope(scopes []string) string { return strings.Join(scopes, " ") }

// ScopeRequest is what decides a token's scope.
type ScopeRequest struct {
	// Requested is the scope asked for; nil means the parameter was omitted, and the
	// client's default applies (RFC 6749 §3.3): every scope it may have.
	Requested []string
	// ClientAllowed is the client's registered scope allowlist.
	ClientAllowed []string
	// API is the token's audience, or nil for a token without an API.
	API *store.API
	// User is set for tokens on behalf of a user, whose Roles entitle them to API
	// scopes (store.Scope.Roles). Without a user (client_credentials) there are no
	// identity scopes and scope roles do not apply: the allowlist decides.
	User  bool
	Roles []string
}

// GrantScopes returns requested ∩ client-allowed ∩ the API's scopes ∩ user-entitled:
// never a scope outside any of them. Scopes that fail are dropped silently, as RFC
// 6749 §3.3 lets the server do; the caller reports the granted scope in the response.
func GrantScopes(r ScopeRequest) []string {
	candidates := r.Requested
	if candidates == nil {
		candidates = r.ClientAllowed
	}
	var out []string
	for _, s := range candidates {
		if !slices.Contains(r.ClientAllowed, s) || slices.Contains(out, s) {
			continue
		}
		if slices.Contains(IdentityScopes, s) {
			if r.User {
				out = append(out, s)
			}
			continue
		}
		if r.API == nil {
			continue
		}
		i := slices.IndexFunc(r.API.Scopes, func(x store.Scope) bool { return x.Name == s })
		if i < 0 {
			continue
		}
		if r.User && !Entitled(r.API.Scopes[i], r.Roles) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// Entitled reports whether a user with roles may hold scope: any role of the scope's
// list, or anyone when the list is empty.
func Entitled(scope store.Scope, roles []string) bool {
	if len(scope.Roles) == 0 {
		return true
	}
	for _, r := range roles {
		if slices.Contains(scope.Roles, r) {
			return true
		}
	}
	return false
}

// Subset reports whether every scope of a is in b.
func Subset(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

// ErrInvalidTarget: the resource parameter names no API this client may use (RFC
// 8707 §2 invalid_target).
var ErrInvalidTarget = errors.New("token: invalid target")

// SelectAudience picks the API a token is for (RFC 8707): the one resource given,
// which must be the client's default API or one of its allowed APIs; or, without a
// resource, the client's default API ("" if it has none). Whether the audience is a
// registered API is for the caller to check against the registry.
func SelectAudience(resources []string, c *store.Client) (string, error) {
	switch len(resources) {
	case 0:
		return c.DefaultAudience, nil
	case 1:
		r := resources[0]
		if r != "" && (r == c.DefaultAudience || slices.Contains(c.Audiences, r)) {
			return r, nil
		}
	}
	// More than one: Gatehouse issues single-audience tokens (RFC 8707 §2 lets the
	// server refuse what it cannot honour).
	return "", ErrInvalidTarget
}
