package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

func testRoles(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("GrantList", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		g1 := store.RoleGrant{UserID: "u1", Role: store.RoleAdmin, GrantedBy: "bootstrap", GrantedAt: at(0)}
		g2 := store.RoleGrant{UserID: "u2", Role: store.RoleAdmin, GrantedBy: "u1", GrantedAt: at(time.Minute)}
		g3 := store.RoleGrant{UserID: "u2", Role: "auditor", GrantedBy: "u1", GrantedAt: at(time.Minute)}
		for _, g := range []store.RoleGrant{g2, g1, g3} {
			must(t, "Grant", s.Roles().Grant(t.Context(), g))
		}
		got, err := s.Roles().ListByRole(t.Context(), store.RoleAdmin)
		must(t, "ListByRole", err)
		same(t, "admins", got, []store.RoleGrant{g1, g2})
		got, err = s.Roles().ListForUser(t.Context(), "u2")
		must(t, "ListForUser", err)
		same(t, "u2's roles", got, []store.RoleGrant{g2, g3})
		got, err = s.Roles().ListForUser(t.Context(), "nobody")
		must(t, "ListForUser nobody", err)
		same(t, "nobody's roles", got, nil)
	})
	t.Run("GrantTwice", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		g := store.RoleGrant{UserID: "u1", Role: store.RoleAdmin, GrantedBy: "cli", GrantedAt: at(0)}
		must(t, "Grant", s.Roles().Grant(t.Context(), g))
		wantErr(t, "Grant again", s.Roles().Grant(t.Context(), g), store.ErrConflict)
	})
	t.Run("GrantUnknownUser", func(t *testing.T) {
		s := open(t)
		err := s.Roles().Grant(t.Context(), store.RoleGrant{UserID: "nobody", Role: store.RoleAdmin, GrantedBy: "cli", GrantedAt: at(0)})
		wantErr(t, "Grant", err, store.ErrNotFound)
	})
	t.Run("Revoke", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		must(t, "Grant", s.Roles().Grant(t.Context(), store.RoleGrant{UserID: "u1", Role: store.RoleAdmin, GrantedBy: "cli", GrantedAt: at(0)}))
		must(t, "Revoke", s.Roles().Revoke(t.Context(), "u1", store.RoleAdmin))
		wantErr(t, "Revoke again", s.Roles().Revoke(t.Context(), "u1", store.RoleAdmin), store.ErrNotFound)
		got, err := s.Roles().ListByRole(t.Context(), store.RoleAdmin)
		must(t, "ListByRole", err)
		same(t, "admins", got, nil)
	})
}
