package operations

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// TestRoleGrantRevoke: a grant and its revocation are audited by the actor; the
// last admin (by grants) cannot be removed, and the refusal changes nothing.
func TestRoleGrantRevoke(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	w.must(w.ops.GrantRole(ctx, admin, "ann", store.RoleAdmin))
	if d := w.audited(t, "role.granted", "ann"); d["role"] != store.RoleAdmin {
		t.Errorf("details %v", d)
	}
	if err := w.ops.GrantRole(ctx, admin, "ann", store.RoleAdmin); !errors.Is(err, ErrConflict) {
		t.Errorf("grant twice: %v, want ErrConflict", err)
	}
	if err := w.ops.GrantRole(ctx, admin, "nobody", store.RoleAdmin); !errors.Is(err, ErrNotFound) {
		t.Errorf("grant to nobody: %v, want ErrNotFound", err)
	}
	before := w.auditTotal()
	if err := w.ops.RevokeRole(ctx, admin, "ann", store.RoleAdmin); !errors.Is(err, ErrLastAdmin) || !errors.Is(err, ErrConflict) {
		t.Fatalf("revoke the last admin: %v, want ErrLastAdmin", err)
	}
	if as, _ := w.ops.Admins(ctx); len(as) != 1 || w.auditTotal() != before {
		t.Fatalf("after the refusal: admins %v, %d events (was %d)", as, w.auditTotal(), before)
	}
	w.must(w.ops.GrantRole(ctx, admin, "bob", store.RoleAdmin))
	w.must(w.ops.RevokeRole(ctx, admin, "ann", store.RoleAdmin))
	w.audited(t, "role.revoked", "ann")
	if as, _ := w.ops.Admins(ctx); len(as) != 1 || as[0].ID != "bob" {
		t.Fatalf("admins %v, want bob", as)
	}
}

// TestBootstrap: a bootstrap token grants admin once; a second use, an expired
// or forged token, or one used when an admin exists grants nothing.
func TestBootstrap(t *testing.T) {
	ctx := t.Context()
	t.Run("once", func(t *testing.T) {
		w := newWorld(t)
		tok, exp, err := w.ops.NewBootstrapToken(ctx)
		w.must(err)
		if exp.Sub(w.now) > BootstrapTTL {
			t.Errorf("expires %v", exp)
		}
		w.must(w.ops.CheckBootstrapToken(ctx, tok))
		w.must(w.ops.Bootstrap(ctx, tok, "ann"))
		if err := w.ops.Bootstrap(ctx, tok, "bob"); err == nil {
			t.Fatal("a second use granted admin")
		}
		if as, _ := w.ops.Admins(ctx); len(as) != 1 || as[0].ID != "ann" {
			t.Fatalf("admins %v, want ann alone", as)
		}
		if evs := w.events("admin.bootstrapped"); len(evs) != 1 || evs[0].Actor != "ann" {
			t.Fatalf("admin.bootstrapped events %+v", evs)
		}
		if _, _, err := w.ops.NewBootstrapToken(ctx); !errors.Is(err, ErrAdminExists) {
			t.Errorf("a new link with an admin: %v, want ErrAdminExists", err)
		}
	})
	for _, tc := range []struct {
		name string
		tok  func(w *world) string
		want error
	}{
		{"expired", func(w *world) string {
			tok, _, err := w.ops.NewBootstrapToken(ctx)
			w.must(err)
			w.now = w.now.Add(BootstrapTTL + time.Second)
			return tok
		}, ErrBootstrapToken},
		{"forged", func(*world) string { return "AAAAbm90LWEtdG9rZW4" }, ErrBootstrapToken},
		{"admin exists", func(w *world) string {
			tok, _, err := w.ops.NewBootstrapToken(ctx)
			w.must(err)
			w.must(w.ops.GrantRole(ctx, admin, "bob", store.RoleAdmin))
			return tok
		}, ErrAdminExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tok := tc.tok(w)
			if err := w.ops.Bootstrap(ctx, tok, "ann"); !errors.Is(err, tc.want) {
				t.Fatalf("Bootstrap: %v, want %v", err, tc.want)
			}
			if rs, _ := w.ops.Roles(ctx, "ann"); len(rs) != 0 {
				t.Fatalf("ann's roles %v", rs)
			}
			if len(w.events("admin.bootstrapped")) != 0 {
				t.Fatal("audited")
			}
		})
	}
}

// TestDATA11_APIStaleVersion: an update from a version another edit replaced is
// refused, and the other edit stays.
func TestDATA11_APIStaleVersion(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	a, err := w.ops.GetAPI(ctx, "notes")
	w.must(err)
	first, second := a, a
	first.Name, second.Name = "First", "Second"
	got, err := w.ops.UpdateAPI(ctx, admin, first)
	w.must(err)
	if got.Version != a.Version+1 {
		t.Errorf("version after update %d, want %d", got.Version, a.Version+1)
	}
	if _, err := w.ops.UpdateAPI(ctx, admin, second); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	if stored, _ := w.ops.GetAPI(ctx, "notes"); stored.Name != "First" {
		t.Fatalf("stored %q", stored.Name)
	}
	evs := w.events("api.updated")
	if len(evs) != 1 {
		t.Fatalf("%d api.updated events", len(evs))
	}
	// ADM-16: the event says what changed, old and new.
	if d := string(evs[0].Details); !strings.Contains(d, `"name":{"new":"First","old":"Notes"}`) || strings.Contains(d, `"audience":{`) {
		t.Errorf("details %s", d)
	}
}

// TestDisableTheLastAdmin: disabling the last admin is refused like revoking
// their role (a disabled admin is none), nothing changes and nothing is
// recorded; with another admin it is allowed, and a non-admin is disabled
// whether admins exist or not.
func TestDisableTheLastAdmin(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	w.must(w.ops.GrantRole(ctx, admin, "ann", store.RoleAdmin))
	before := w.auditTotal()
	if _, err := w.ops.DisableUser(ctx, admin, "ann"); !errors.Is(err, ErrLastAdmin) || !errors.Is(err, ErrConflict) {
		t.Fatalf("disable the last admin: %v, want ErrLastAdmin", err)
	}
	if u, _ := w.ops.Store.Users().Get(ctx, "ann"); u.Disabled || w.auditTotal() != before {
		t.Fatalf("after the refusal: disabled %v, %d events (was %d)", u.Disabled, w.auditTotal(), before)
	}
	w.must(w.ops.GrantRole(ctx, admin, "bob", store.RoleAdmin))
	if _, err := w.ops.DisableUser(ctx, admin, "ann"); err != nil {
		t.Fatalf("disable an admin while another is left: %v", err)
	}
	if as, _ := w.ops.Admins(ctx); len(as) != 1 || as[0].ID != "bob" {
		t.Fatalf("admins %v, want bob", as)
	}
}
