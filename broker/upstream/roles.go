package upstream

import (
	"slices"

	"github.com/gatehouse/gatehouse/providers"
)

// Roles evaluates rules against a verified identity and returns the local roles,
// sorted and without duplicates. A claim's values are its string values (a
// string, or a list of strings); the claim "groups" also matches the mapped
// Identity.Groups, whatever attribute they came from.
func Roles(rules []RoleRule, id providers.Identity) []string {
	var roles []string
	for _, r := range rules {
		vals := claimStrings(id.Claims[r.Claim])
		if r.Claim == "groups" {
			vals = append(vals, id.Groups...)
		}
		if slices.Contains(vals, r.Value) && !slices.Contains(roles, r.Role) {
			roles = append(roles, r.Role)
		}
	}
	slices.Sort(roles)
	return roles
}

// claimStrings flattens a claim value into its strings; numbers and objects are
// ignored so that a rule never matches a value the IdP did not send as text.
func claimStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []string:
		return v
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
