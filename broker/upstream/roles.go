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
		vals := providers.StringValues(id.Claims[r.Claim])
		if r.Claim == "groups" {
			vals = slices.Concat(vals, id.Groups) // not append: vals may be the claim's own slice
		}
		if slices.Contains(vals, r.Value) && !slices.Contains(roles, r.Role) {
			roles = append(roles, r.Role)
		}
	}
	slices.Sort(roles)
	return roles
}
