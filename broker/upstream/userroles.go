package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// UserRoles returns the local roles the user holds now, sorted and without
// duplicates, for when they may not be signed in (a delegation is used while its
// grantor is away, so the roles of a session will not do). For each identity of
// the user at an enabled provider it re-applies the provider's current claim
// mapping (for "groups") and current role rules (Roles) to the claims of that
// identity's last sign-in, and takes the union: an admin's change of a role rule
// counts at once; a change upstream counts from the user's next sign-in. An
// identity whose provider is disabled or gone gives no roles.
func UserRoles(ctx context.Context, st Store, userID string) ([]string, error) {
	sources, err := RoleSources(ctx, st, userID)
	if err != nil {
		return nil, err
	}
	var roles []string
	for _, src := range sources {
		for _, r := range src.Roles {
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	slices.Sort(roles)
	return roles, nil
}

// RoleSource is what one linked identity's provider gives the user by its role
// rules: the roles of UserRoles, with where each came from (the admin's
// person page).
type RoleSource struct {
	ProviderID, Subject string
	Roles               []string // sorted; never empty
}

// RoleSources returns, for each identity of the user whose provider's role
// rules give it roles (as UserRoles decides them), those roles.
func RoleSources(ctx context.Context, st Store, userID string) ([]RoleSource, error) {
	ids, err := st.Identities().ListForUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("user roles: %w", err)
	}
	var out []RoleSource
	for _, id := range ids {
		cfg, err := st.Providers().Get(ctx, id.ProviderID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("user roles: %w", err)
		}
		if !cfg.Enabled {
			continue
		}
		common, mapping, err := roleSettings(cfg)
		if err != nil {
			return nil, fmt.Errorf("user roles: provider %s: %w", cfg.ID, err)
		}
		if len(common.RoleRules) == 0 {
			continue
		}
		var claims map[string]any
		if len(id.Claims) > 0 {
			if err := json.Unmarshal(id.Claims, &claims); err != nil {
				return nil, fmt.Errorf("user roles: claims of %s at %s: %w", id.Subject, cfg.ID, err)
			}
		}
		ident := providers.Identity{ProviderID: id.ProviderID, Subject: id.Subject, Claims: claims,
			Groups: mapping.GroupsOf(claims)}
		if roles := Roles(common.RoleRules, ident); len(roles) > 0 {
			out = append(out, RoleSource{ProviderID: id.ProviderID, Subject: id.Subject, Roles: roles})
		}
	}
	return out, nil
}

// roleSettings returns the provider's common settings and the claim mapping it
// signs in with (the kind's default unless set), as Build does.
func roleSettings(cfg store.ProviderConfig) (Common, providers.Mapping, error) {
	switch cfg.Kind {
	case KindOIDC:
		s, err := DecodeOIDC(cfg.Settings)
		if err != nil {
			return Common{}, providers.Mapping{}, err
		}
		if s.Mapping.IsZero() {
			return s.Common, providers.DefaultOIDCMapping(), nil
		}
		return s.Common, s.Mapping, nil
	case KindSAML:
		s, err := DecodeSAML(cfg.Settings)
		if err != nil {
			return Common{}, providers.Mapping{}, err
		}
		if s.Mapping.IsZero() {
			return s.Common, providers.DefaultSAMLMapping(), nil
		}
		return s.Common, s.Mapping, nil
	}
	return Common{}, providers.Mapping{}, configErr(templates.M("unknown kind %q", cfg.Kind))
}
