package delegate

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

// refreshUnder stores a refresh token issued under delegation id now, named
// "rt-<id>-<n>".
func (w *world) refreshUnder(id, n string) {
	w.t.Helper()
	w.must(w.db.RefreshTokens().Create(w.t.Context(), store.RefreshToken{TokenHash: []byte("rt-" + id + "-" + n),
		FamilyID: "f-" + id + "-" + n, GrantID: "g-" + id, ClientID: "ward", UserID: "ann", DelegationID: id,
		CreatedAt: w.now, ExpiresAt: w.now.Add(time.Hour)}))
}

func (w *world) refreshRevoked(id, n string) bool {
	w.t.Helper()
	rt, err := w.db.RefreshTokens().GetByHash(w.t.Context(), []byte("rt-"+id+"-"+n))
	w.must(err)
	return !rt.RevokedAt.IsZero()
}

func (w *world) delegation(id string) store.Delegation {
	w.t.Helper()
	d, err := w.db.Delegations().Get(w.t.Context(), id)
	w.must(err)
	return d
}

// TestRecheckEndsWhenEntitlementLost: when an admin's role-rule change takes
// ann's clinician role, Recheck ends her delegation at once (entitlement_lost,
// audited delegation.ended by gatehouse) and what was passed on from it, with
// their refresh and access tokens, without any use. Bob's own delegation,
// which covers nothing he holds either, is not ann's and stays as it was.
func TestRecheckEndsWhenEntitlementLost(t *testing.T) {
	w := newWorld(t)
	w.give(store.Delegation{ID: "ann-bob", GrantorID: "ann", GranteeUserID: "bob", Scopes: []string{"plans.read"}, MayRedelegate: true})
	w.give(store.Delegation{ID: "bob-carol", GrantorID: "bob", GranteeUserID: "carol", ParentID: "ann-bob", Scopes: []string{"plans.read"}})
	w.give(store.Delegation{ID: "bob-own", GrantorID: "bob", GranteeUserID: "carol", Scopes: []string{"plans.read"}})
	for _, id := range []string{"ann-bob", "bob-carol", "bob-own"} {
		w.refreshUnder(id, "1")
	}
	w.setRules(upstream.RoleRule{Claim: "groups", Value: "doctors", Role: "clinician"})

	w.must(w.svc.Recheck(w.ctx(), "ann"))

	for id, reason := range map[string]string{"ann-bob": store.DelegationEndEntitlementLost, "bob-carol": store.DelegationEndParentEnded} {
		if d := w.delegation(id); d.EndReason != reason || !d.RevokedAt.Equal(w.now) {
			t.Errorf("%s: ended %v for %q, want %q", id, d.RevokedAt, d.EndReason, reason)
		}
		if !w.refreshRevoked(id, "1") || !w.revokedAccess(id) {
			t.Errorf("%s: tokens still valid", id)
		}
	}
	if evs := w.events("delegation.ended"); len(evs) != 1 || evs[0].Target != "ann-bob" || evs[0].Actor != systemActor {
		t.Errorf("delegation.ended events %+v", evs)
	}
	if d := w.delegation("bob-own"); !d.RevokedAt.IsZero() || w.refreshRevoked("bob-own", "1") || w.revokedAccess("bob-own") {
		t.Errorf("bob's own delegation was touched: %+v", d)
	}
}

// TestRecheckNarrows: when ann loses plans.write but keeps plans.read, her
// delegation of both stays, but what was issued under it may carry
// plans.write: its refresh and access tokens are revoked at once and
// delegation.narrowed records the lost scope; a token issued after carries
// plans.read only (Usable). The re-delegation of plans.read only carries no
// lost scope and keeps its tokens. Rechecking again with the same loss revokes
// nothing issued since and records nothing; when the scope comes back and goes
// again, it is acted on again.
func TestRecheckNarrows(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	d := w.give(store.Delegation{ID: "ann-bob", GrantorID: "ann", GranteeUserID: "bob", Scopes: []string{"plans.read", "plans.write"},
		MayRedelegate: true})
	w.give(store.Delegation{ID: "bob-carol", GrantorID: "bob", GranteeUserID: "carol", ParentID: "ann-bob", Scopes: []string{"plans.read"}})
	w.give(store.Delegation{ID: "bob-dave", GrantorID: "bob", GranteeClientID: "ward", ParentID: "ann-bob", Scopes: []string{"plans.write"}})
	for _, id := range []string{"ann-bob", "bob-carol", "bob-dave"} {
		w.refreshUnder(id, "1")
	}
	// Readers may read: ann's groups now make her a reader, not a clinician.
	api, err := w.db.APIs().Get(ctx, "care")
	w.must(err)
	api.Scopes[0].Roles = []string{"clinician", "reader"}
	w.must(w.db.APIs().Update(ctx, api))
	w.setRules(upstream.RoleRule{Claim: "groups", Value: "nurses", Role: "reader"})

	w.must(w.svc.Recheck(w.ctx(), "ann"))

	got := w.delegation("ann-bob")
	if !got.RevokedAt.IsZero() || !slices.Equal(got.Withheld, []string{"plans.write"}) {
		t.Errorf("narrowed delegation: %+v", got)
	}
	if !w.refreshRevoked("ann-bob", "1") || !w.revokedAccess("ann-bob") {
		t.Error("tokens under the narrowed delegation still valid")
	}
	if scopes, err := w.svc.Usable(w.ctx(), got, w.now); err != nil || !slices.Equal(scopes, []string{"plans.read"}) {
		t.Errorf("Usable after narrowing: %q %v", scopes, err)
	}
	// The re-delegation of plans.write covers nothing now: it ends with what
	// ann's delegation no longer carries; the one of plans.read keeps its tokens.
	if c := w.delegation("bob-carol"); !c.RevokedAt.IsZero() || w.refreshRevoked("bob-carol", "1") || w.revokedAccess("bob-carol") {
		t.Errorf("the re-delegation of plans.read was touched: %+v", c)
	}
	if c := w.delegation("bob-dave"); c.EndReason != store.DelegationEndEntitlementLost || !w.refreshRevoked("bob-dave", "1") {
		t.Errorf("the re-delegation of plans.write: %+v", c)
	}
	evs := w.events("delegation.narrowed")
	if len(evs) != 1 || evs[0].Target != "ann-bob" || evs[0].Actor != systemActor {
		t.Fatalf("delegation.narrowed events %+v", evs)
	}
	var det narrowDetails
	w.must(json.Unmarshal(evs[0].Details, &det))
	if !slices.Equal(det.Withheld, []string{"plans.write"}) || !slices.Equal(det.Scopes, []string{"plans.read"}) {
		t.Errorf("narrowed details %+v", det)
	}

	// The app authorizes again a second later; a sign-in rechecks again.
	w.now = w.now.Add(time.Second)
	w.refreshUnder("ann-bob", "2")
	w.must(w.svc.Recheck(w.ctx(), "ann"))
	if w.refreshRevoked("ann-bob", "2") || w.revokedAccess("ann-bob") || len(w.events("delegation.narrowed")) != 1 {
		t.Error("the same loss was acted on twice")
	}

	// plans.write comes back, then goes again: the tokens issued meanwhile go.
	w.setRules(upstream.RoleRule{Claim: "groups", Value: "nurses", Role: "clinician"})
	w.must(w.svc.Recheck(w.ctx(), "ann"))
	if got := w.delegation("ann-bob"); len(got.Withheld) != 0 || w.refreshRevoked("ann-bob", "2") {
		t.Errorf("after the scope came back: %+v", got)
	}
	w.now = w.now.Add(time.Second)
	w.setRules(upstream.RoleRule{Claim: "groups", Value: "nurses", Role: "reader"})
	w.must(w.svc.Recheck(w.ctx(), "ann"))
	if !w.refreshRevoked("ann-bob", "2") || len(w.events("delegation.narrowed")) != 2 {
		t.Error("a second loss was not acted on")
	}
	if _, err := w.svc.Usable(w.ctx(), d, w.now); err != nil {
		t.Errorf("the narrowed delegation is not usable: %v", err)
	}
}

// TestEndExpired: the maintenance pass ends each delegation past its expiry
// (reason expired, which Status reports as expired), revokes what was issued
// under it and records delegation.expired by gatehouse; a live delegation and
// an ended one are left alone, and a second pass ends nothing.
func TestEndExpired(t *testing.T) {
	w := newWorld(t)
	w.give(store.Delegation{ID: "old", GrantorID: "ann", GranteeUserID: "bob", Scopes: []string{"plans.read"}, MayRedelegate: true,
		ExpiresAt: w.now.Add(time.Hour)})
	w.give(store.Delegation{ID: "old-child", GrantorID: "bob", GranteeUserID: "carol", ParentID: "old", Scopes: []string{"plans.read"},
		ExpiresAt: w.now.Add(time.Hour)})
	w.give(store.Delegation{ID: "live", GrantorID: "ann", GranteeUserID: "carol", Scopes: []string{"plans.read"},
		ExpiresAt: w.now.Add(3 * time.Hour)})
	w.give(store.Delegation{ID: "revoked", GrantorID: "ann", GranteeUserID: "carol", Scopes: []string{"plans.read"},
		ExpiresAt: w.now.Add(time.Hour), RevokedAt: w.now, EndReason: store.DelegationEndRevoked})
	for _, id := range []string{"old", "old-child", "live"} {
		w.refreshUnder(id, "1")
	}
	w.now = w.now.Add(2 * time.Hour)
	n, err := w.svc.EndExpired(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("ended %d (%v), want 2", n, err)
	}
	for _, id := range []string{"old", "old-child"} {
		d := w.delegation(id)
		if d.EndReason != store.DelegationEndExpired || d.Status(w.now, 0) != store.DelegationExpired {
			t.Errorf("%s: %+v, status %s", id, d, d.Status(w.now, 0))
		}
		if !w.refreshRevoked(id, "1") || !w.revokedAccess(id) {
			t.Errorf("%s: tokens still valid", id)
		}
	}
	evs := w.events("delegation.expired")
	if len(evs) != 2 || evs[0].Actor != systemActor || evs[1].Actor != systemActor {
		t.Errorf("delegation.expired events %+v", evs)
	}
	if d := w.delegation("live"); !d.RevokedAt.IsZero() || w.refreshRevoked("live", "1") {
		t.Errorf("the live delegation was touched: %+v", d)
	}
	if d := w.delegation("revoked"); d.EndReason != store.DelegationEndRevoked {
		t.Errorf("the revoked delegation changed: %+v", d)
	}
	if n, err := w.svc.EndExpired(t.Context()); err != nil || n != 0 || len(w.events("delegation.expired")) != 2 {
		t.Errorf("second pass ended %d (%v)", n, err)
	}
	if _, err := w.svc.Usable(w.ctx(), w.delegation("old"), w.now); !errors.Is(err, ErrUnusable) {
		t.Errorf("Usable after expiry: %v", err)
	}
}
