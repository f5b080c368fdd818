package upstream_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/accounts"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/internal/testsupport"
	"github.com/gatehouse/gatehouse/providers"
)

// TestUserRoles: the roles a user holds now come from the claims their
// identities stored at their last sign-in (stored as sign-in stores them,
// accounts.IdentityRecord: an OIDC ID token's JSON claims, SAML attributes as
// lists of strings), re-read through each enabled provider's current mapping
// and role rules: a rule an admin changes counts at once, a disabled provider
// counts no more.
func TestUserRoles(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC)
	db := testsupport.OpenSQLite(t)
	settings := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	oidcSettings := upstream.OIDCSettings{Issuer: "https://corp.example", ClientID: "gatehouse",
		Common: upstream.Common{RoleRules: []upstream.RoleRule{
			{Claim: "groups", Value: "nurses", Role: "clinician"},
			{Claim: "dept", Value: "ward3", Role: "ward3"},
		}}}
	samlSettings := upstream.SAMLSettings{Common: upstream.Common{
		// A mapping of its own: groups from "roles", not a default attribute.
		Mapping: providers.Mapping{Subject: []string{providers.NameIDClaim}, Groups: []string{"roles"}},
		RoleRules: []upstream.RoleRule{
			{Claim: "groups", Value: "pharmacy", Role: "pharmacist"},
			{Claim: "urn:oid:1.3.6.1.4.1.5923.1.1.1.1", Value: "staff", Role: "staff"},
		}}}
	for _, p := range []store.ProviderConfig{
		{ID: "corp", Kind: upstream.KindOIDC, Name: "Corp", Enabled: true, Settings: settings(oidcSettings)},
		{ID: "uni", Kind: upstream.KindSAML, Name: "Uni", Enabled: true, Settings: settings(samlSettings)},
	} {
		p.CreatedAt, p.UpdatedAt = now, now
		if err := db.Providers().Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// The claims as each kind's provider hands them over: an ID token decoded
	// from JSON ([]any lists), SAML attribute values as []string.
	var oidcClaims map[string]any
	if err := json.Unmarshal([]byte(`{"sub":"a1","groups":["nurses","staff"],"dept":"ward3"}`), &oidcClaims); err != nil {
		t.Fatal(err)
	}
	samlClaims := map[string]any{providers.NameIDClaim: "ann@uni", "roles": []string{"pharmacy"},
		"urn:oid:1.3.6.1.4.1.5923.1.1.1.1": []string{"member", "staff"}}
	u := store.User{ID: "ann", Email: "ann@corp.example", CreatedAt: now, UpdatedAt: now}
	first := accounts.IdentityRecord(providers.Identity{ProviderID: "corp", Subject: "a1", Claims: oidcClaims}, "", now)
	if err := db.Identities().LinkNewUser(ctx, u, first); err != nil {
		t.Fatal(err)
	}
	second := accounts.IdentityRecord(providers.Identity{ProviderID: "uni", Subject: "ann@uni", Claims: samlClaims}, "ann", now)
	second.LinkedAt = now
	if err := db.Identities().Link(ctx, second); err != nil {
		t.Fatal(err)
	}
	check := func(what string, want ...string) {
		t.Helper()
		got, err := upstream.UserRoles(ctx, db, "ann")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: roles %v, want %v", what, got, want)
		}
	}
	check("both identities", "clinician", "pharmacist", "staff", "ward3")

	// The admin drops the ward rule at corp: it counts without a new sign-in.
	corp, err := db.Providers().Get(ctx, "corp")
	if err != nil {
		t.Fatal(err)
	}
	oidcSettings.RoleRules = oidcSettings.RoleRules[:1]
	corp.Settings = settings(oidcSettings)
	if err := db.Providers().Update(ctx, corp); err != nil {
		t.Fatal(err)
	}
	check("after a rule change", "clinician", "pharmacist", "staff")

	uni, err := db.Providers().Get(ctx, "uni")
	if err != nil {
		t.Fatal(err)
	}
	uni.Enabled = false
	if err := db.Providers().Update(ctx, uni); err != nil {
		t.Fatal(err)
	}
	check("uni disabled", "clinician")

	if got, err := upstream.UserRoles(ctx, db, "nobody"); err != nil || got != nil {
		t.Errorf("a user without identities: %v %v", got, err)
	}
}
