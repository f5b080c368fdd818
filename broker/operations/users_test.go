package operations

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// TestUserChanges: disable and sign-out end the user's sessions and revoke their
// tokens (and no one else's); enable revives nothing; each records its event by
// the actor with what it ended.
func TestUserChanges(t *testing.T) {
	for _, tc := range []struct {
		name     string
		change   func(ctx context.Context, w *world) (UserChange, error)
		action   string
		disabled bool
		ended    bool
	}{
		{"disable", func(ctx context.Context, w *world) (UserChange, error) { return w.ops.DisableUser(ctx, admin, "ann") },
			"user.disabled", true, true},
		{"sign out", func(ctx context.Context, w *world) (UserChange, error) { return w.ops.SignOutUser(ctx, admin, "ann") },
			"user.signed_out", false, true},
		{"enable", func(ctx context.Context, w *world) (UserChange, error) { return w.ops.EnableUser(ctx, admin, "ann") },
			"user.enabled", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			ctx := t.Context()
			ch, err := tc.change(ctx, w)
			if err != nil {
				t.Fatal(err)
			}
			d := w.audited(t, tc.action, "ann")
			if u, _ := w.db.Users().Get(ctx, "ann"); u.Disabled != tc.disabled || ch.User.Disabled != tc.disabled {
				t.Errorf("ann disabled %v (returned %v), want %v", u.Disabled, ch.User.Disabled, tc.disabled)
			}
			s, rt := w.live("s-ann-1")
			if !tc.ended {
				if ch.CutOff != nil || !s || !rt {
					t.Errorf("%s ended something: %+v, session %v, refresh %v", tc.name, ch.CutOff, s, rt)
				}
				return
			}
			if ch.CutOff == nil || ch.CutOff.Sessions != 2 || ch.CutOff.RefreshTokens != 2 || d["sessions_ended"] != 2.0 || d["refresh_tokens_revoked"] != 2.0 {
				t.Errorf("cut-off %+v, details %v: want 2 sessions and 2 refresh tokens", ch.CutOff, d)
			}
			if s || rt {
				t.Errorf("ann's session after %s: session %v, refresh token %v", tc.name, s, rt)
			}
			if latest, _ := w.db.Revocations().Latest(ctx, []string{"user:ann"}); latest.IsZero() {
				t.Error("ann's access tokens are not revoked")
			}
			if s, rt := w.live("s-bob"); !s || !rt {
				t.Error("bob's session was ended")
			}
		})
	}
}

// TestUserRefusals: a user who does not exist is ErrNotFound, by ID or by email;
// nothing is audited.
func TestUserRefusals(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	before := w.auditTotal()
	for name, err := range map[string]error{
		"disable":       func() error { _, err := w.ops.DisableUser(ctx, admin, "nobody"); return err }(),
		"enable":        func() error { _, err := w.ops.EnableUser(ctx, admin, "nobody"); return err }(),
		"sign out":      func() error { _, err := w.ops.SignOutUser(ctx, admin, "nobody"); return err }(),
		"find by email": func() error { _, err := w.ops.FindUsers(ctx, "nobody@corp.example"); return err }(),
		"find by ID":    func() error { _, err := w.ops.FindUsers(ctx, "nobody"); return err }(),
	} {
		t.Run(name, func(t *testing.T) { w.refused(t, err, ErrNotFound, before) })
	}
}

// TestUserLookups: list (all, or by email in any case) and find return each
// user with their identities.
func TestUserLookups(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	all, err := w.ops.ListUsers(ctx, "")
	if err != nil || len(all) != 2 || len(all[0].Identities) != 1 {
		t.Fatalf("list: %v %+v", err, all)
	}
	if us, err := w.ops.ListUsers(ctx, "BOB@uni.example"); err != nil || len(us) != 1 || us[0].User.ID != "bob" {
		t.Errorf("list by email: %v %+v", err, us)
	}
	if us, err := w.ops.FindUsers(ctx, "ann"); err != nil || len(us) != 1 || us[0].Identities[0].ProviderID != "corp" {
		t.Errorf("find by ID: %v %+v", err, us)
	}
}

// TestDisableUserEndsDelegations: disabling a user ends the delegations they
// gave and received in the same transaction as the disable (their delegated
// tokens turn inactive); signing a user out ends sessions, not delegations.
func TestDisableUserEndsDelegations(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(ctx context.Context, w *world) (UserChange, error)
		want   map[string]string // delegation → end reason
	}{
		{"disable the grantor", func(ctx context.Context, w *world) (UserChange, error) {
			return w.ops.DisableUser(ctx, admin, "ann")
		}, map[string]string{"ann-to-bob": store.DelegationEndGrantorDisabled, "bob-to-ann": store.DelegationEndGranteeDisabled}},
		{"disable the grantee", func(ctx context.Context, w *world) (UserChange, error) {
			return w.ops.DisableUser(ctx, admin, "bob")
		}, map[string]string{"ann-to-bob": store.DelegationEndGranteeDisabled, "bob-to-ann": store.DelegationEndGrantorDisabled}},
		{"sign out", func(ctx context.Context, w *world) (UserChange, error) {
			return w.ops.SignOutUser(ctx, admin, "ann")
		}, map[string]string{"ann-to-bob": "", "bob-to-ann": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			ctx := t.Context()
			for _, d := range []store.Delegation{
				{ID: "ann-to-bob", GrantorID: "ann", GranteeUserID: "bob"},
				{ID: "bob-to-ann", GrantorID: "bob", GranteeUserID: "ann"},
			} {
				d.Audience, d.Scopes, d.CreatedAt, d.ExpiresAt = "https://notes.test", []string{"read"}, w.now, w.now.Add(time.Hour)
				w.must(w.db.Delegations().Create(ctx, d))
			}
			ch, err := tc.change(ctx, w)
			if err != nil {
				t.Fatal(err)
			}
			ended := 0
			for id, reason := range tc.want {
				d, err := w.db.Delegations().Get(ctx, id)
				w.must(err)
				if d.EndReason != reason {
					t.Errorf("%s ended for %q, want %q", id, d.EndReason, reason)
				}
				latest, err := w.db.Revocations().Latest(ctx, []string{token.DelegationRevocationKey(id)})
				w.must(err)
				if latest.IsZero() != (reason == "") {
					t.Errorf("%s: access tokens revoked until %v", id, latest)
				}
				if reason != "" {
					ended++
				}
			}
			if ch.CutOff.Delegations != ended {
				t.Errorf("cut-off reports %d delegations ended, want %d", ch.CutOff.Delegations, ended)
			}
		})
	}
}
