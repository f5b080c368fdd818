package delegate

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

// revokedAccess reports whether an access token issued under delegation id now
// is inactive at introspection (as verifyAccessToken decides).
func (w *world) revokedAccess(id string) bool {
	w.t.Helper()
	cl := token.AccessClaims{ID: "j", ClientID: "ward", Subject: "ann", GrantID: "g", DelegationID: id, IssuedAt: w.now.Unix()}
	latest, err := w.db.Revocations().Latest(w.t.Context(), cl.RevocationKeys())
	w.must(err)
	return !latest.IsZero() && !latest.Before(time.Unix(cl.IssuedAt, 0))
}

// TestUsable: a token under a delegation carries its scopes ∩ what the grantor
// holds now ∩ the policy's delegable scopes now; a re-delegation within what its
// parent covers.
func TestUsable(t *testing.T) {
	w := newWorld(t)
	d := w.give(store.Delegation{ID: "ann-bob", GrantorID: "ann", GranteeUserID: "bob",
		Scopes: []string{"plans.read", "plans.write", "plans.admin"}, MayRedelegate: true})
	child := w.give(store.Delegation{ID: "bob-carol", GrantorID: "bob", GranteeUserID: "carol", ParentID: "ann-bob",
		Scopes: []string{"plans.write"}})
	usable := func(what string, d store.Delegation, want ...string) {
		t.Helper()
		got, err := w.svc.Usable(w.ctx(), d, w.now)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v %v, want %v", what, got, err, want)
		}
	}
	// plans.admin was stored directly: ann has no admin role, so it never counts.
	usable("ann to bob", d, "plans.read", "plans.write")
	usable("bob to carol", child, "plans.write")

	api, err := w.db.APIs().Get(t.Context(), "care")
	w.must(err)
	api.Delegation.Scopes = []string{"plans.read", "plans.admin"}
	w.must(w.db.APIs().Update(t.Context(), api))
	usable("after the policy drops plans.write", d, "plans.read")
	if _, err := w.svc.Usable(w.ctx(), child, w.now); !errors.Is(err, ErrUnusable) {
		t.Errorf("bob to carol without a delegable scope: %v, want ErrUnusable", err)
	}
	if got, _ := w.db.Delegations().Get(t.Context(), child.ID); !got.RevokedAt.IsZero() {
		t.Errorf("a policy change ended a delegation: %+v", got)
	}
	// A client grantee is usable too.
	app := w.give(store.Delegation{ID: "ann-ward", GrantorID: "ann", GranteeClientID: "ward", Scopes: []string{"plans.read"}})
	usable("ann to the ward app", app, "plans.read")
}

// TestUsableRefusals: an ended, expired or disabled-party delegation, or one on
// an API that stopped allowing delegation, is refused as ErrUnusable and stays
// as it was.
func TestUsableRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		d      store.Delegation
		change func(w *world)
	}{
		{"revoked", store.Delegation{RevokedAt: time.Date(2031, 1, 1, 11, 0, 0, 0, time.UTC), EndReason: store.DelegationEndRevoked}, nil},
		{"expired", store.Delegation{ExpiresAt: time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC)}, nil},
		{"a disabled grantee", store.Delegation{GranteeUserID: "dave"}, nil},
		{"a disabled grantor", store.Delegation{GrantorID: "dave"}, nil},
		{"an unknown app", store.Delegation{GranteeUserID: "", GranteeClientID: "nope"}, nil},
		{"an app no longer allowed the API", store.Delegation{GranteeUserID: "", GranteeClientID: "other"}, nil},
		{"the API stopped allowing delegation", store.Delegation{}, func(w *world) {
			api, err := w.db.APIs().Get(w.t.Context(), "care")
			w.must(err)
			api.Delegation.Allowed = false
			w.must(w.db.APIs().Update(w.t.Context(), api))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			d := tc.d
			d.ID, d.Scopes = "d1", []string{"plans.read"}
			if d.GrantorID == "" {
				d.GrantorID = "ann"
			}
			if d.GranteeUserID == "" && d.GranteeClientID == "" {
				d.GranteeUserID = "bob"
			}
			d = w.give(d)
			if tc.change != nil {
				tc.change(w)
			}
			scopes, err := w.svc.Usable(w.ctx(), d, w.now)
			if !errors.Is(err, ErrUnusable) || scopes != nil {
				t.Fatalf("Usable: %v %v, want ErrUnusable", scopes, err)
			}
			if got, _ := w.db.Delegations().Get(t.Context(), "d1"); got.RevokedAt.Equal(d.RevokedAt) == false || got.EndReason != d.EndReason {
				t.Errorf("refusing changed the delegation: %+v", got)
			}
		})
	}
}

// TestUsableEndsWhenEntitlementLost: when the admin's role-rule change takes
// ann's clinician role, her delegation covers nothing she holds: Usable ends it
// (entitlement_lost) and what was passed on from it (parent_ended), revokes the
// refresh and access tokens under both, records delegation.ended, and refuses.
func TestUsableEndsWhenEntitlementLost(t *testing.T) {
	w := newWorld(t)
	d := w.give(store.Delegation{ID: "ann-bob", GrantorID: "ann", GranteeUserID: "bob", Scopes: []string{"plans.read"},
		MayRedelegate: true})
	child := w.give(store.Delegation{ID: "bob-carol", GrantorID: "bob", GranteeUserID: "carol", ParentID: "ann-bob",
		Scopes: []string{"plans.read"}})
	for _, id := range []string{"ann-bob", "bob-carol"} {
		w.must(w.db.RefreshTokens().Create(t.Context(), store.RefreshToken{TokenHash: []byte("rt-" + id), FamilyID: "f-" + id,
			GrantID: "g-" + id, ClientID: "ward", UserID: "ann", DelegationID: id, CreatedAt: w.now, ExpiresAt: w.now.Add(time.Hour)}))
	}
	if got, err := w.svc.Covers(w.ctx(), child, w.now); err != nil || !slices.Equal(got, []string{"plans.read"}) {
		t.Fatalf("Covers before the loss: %q %v", got, err)
	}
	w.setRules(upstream.RoleRule{Claim: "groups", Value: "doctors", Role: "clinician"})

	// Covers (the pages) says it covers nothing and ends nothing.
	if _, err := w.svc.Covers(w.ctx(), child, w.now); !errors.Is(err, ErrUnusable) {
		t.Fatalf("Covers: %v, want ErrUnusable", err)
	}
	if got, _ := w.db.Delegations().Get(t.Context(), "ann-bob"); !got.RevokedAt.IsZero() || len(w.events("delegation.ended")) != 0 {
		t.Fatalf("Covers ended %+v", got)
	}

	// Used through the re-delegation first: the loss is ann's, so hers ends.
	if _, err := w.svc.Usable(w.ctx(), child, w.now); !errors.Is(err, ErrUnusable) {
		t.Fatalf("Usable: %v, want ErrUnusable", err)
	}
	for id, reason := range map[string]string{"ann-bob": store.DelegationEndEntitlementLost, "bob-carol": store.DelegationEndParentEnded} {
		got, err := w.db.Delegations().Get(t.Context(), id)
		w.must(err)
		if got.EndReason != reason || !got.RevokedAt.Equal(w.now) {
			t.Errorf("%s: ended %v for %q, want %q", id, got.RevokedAt, got.EndReason, reason)
		}
		if rt, _ := w.db.RefreshTokens().GetByHash(t.Context(), []byte("rt-"+id)); rt.RevokedAt.IsZero() {
			t.Errorf("%s: refresh token still valid", id)
		}
		if !w.revokedAccess(id) {
			t.Errorf("%s: access tokens still active", id)
		}
	}
	if evs := w.events("delegation.ended"); len(evs) != 1 || evs[0].Target != "ann-bob" || evs[0].Actor != systemActor {
		t.Errorf("delegation.ended events %+v", evs)
	}
	if _, err := w.svc.Usable(w.ctx(), d, w.now); !errors.Is(err, ErrUnusable) {
		t.Errorf("Usable after the end: %v", err)
	}
}

// TestRevokeAndDecline: only the grantor revokes and only the grantee declines;
// anyone else, and an unknown ID, get ErrNotFound and change nothing (no
// oracle). Each end revokes what was issued under it and is audited once.
func TestRevokeAndDecline(t *testing.T) {
	w := newWorld(t)
	for _, id := range []string{"d1", "d2"} {
		w.give(store.Delegation{ID: id, GrantorID: "ann", GranteeUserID: "bob", Scopes: []string{"plans.read"}})
	}
	for name, err := range map[string]error{
		"revoke by the grantee":  w.svc.Revoke(w.ctx(), "bob", "d1"),
		"revoke by a stranger":   w.svc.Revoke(w.ctx(), "carol", "d1"),
		"revoke by nobody":       w.svc.Revoke(w.ctx(), "", "d1"),
		"revoke unknown":         w.svc.Revoke(w.ctx(), "ann", "nope"),
		"decline by the grantor": w.svc.Decline(w.ctx(), "ann", "d1"),
		"decline by a stranger":  w.svc.Decline(w.ctx(), "carol", "d1"),
		"decline unknown":        w.svc.Decline(w.ctx(), "bob", "nope"),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	for _, id := range []string{"d1", "d2"} {
		if got, _ := w.db.Delegations().Get(t.Context(), id); !got.RevokedAt.IsZero() || w.revokedAccess(id) {
			t.Fatalf("%s ended by a refused call: %+v", id, got)
		}
	}
	w.must(w.svc.Revoke(w.ctx(), "ann", "d1"))
	w.must(w.svc.Decline(w.ctx(), "bob", "d2"))
	w.must(w.svc.Revoke(w.ctx(), "ann", "d2")) // already declined: nothing changes
	for id, reason := range map[string]string{"d1": store.DelegationEndRevoked, "d2": store.DelegationEndDeclined} {
		got, _ := w.db.Delegations().Get(t.Context(), id)
		if got.EndReason != reason || !w.revokedAccess(id) {
			t.Errorf("%s: %+v, access revoked %v; want ended for %q", id, got, w.revokedAccess(id), reason)
		}
	}
	for action, actor := range map[string]string{"delegation.revoked": "ann", "delegation.declined": "bob"} {
		if evs := w.events(action); len(evs) != 1 || evs[0].Actor != actor || evs[0].IP != "192.0.2.7" {
			t.Errorf("%s events %+v", action, evs)
		}
	}
}

// TestRecordUse: every use is a delegation.used event (for the grantor's
// Activity page) with the app, scopes, address and request ID; the last-use time
// is written at most once a minute.
func TestRecordUse(t *testing.T) {
	w := newWorld(t)
	d := w.give(store.Delegation{ID: "d1", GrantorID: "ann", GranteeUserID: "bob", Scopes: []string{"plans.read"}})
	start := w.now
	for i := range 3 {
		w.now = start.Add(time.Duration(i) * 20 * time.Second)
		w.svc.RecordUse(w.ctx(), d, "ward", []string{"plans.read"})
	}
	evs := w.events("delegation.used")
	if len(evs) != 3 {
		t.Fatalf("%d delegation.used events, want 3", len(evs))
	}
	var det useDetails
	w.must(json.Unmarshal(evs[0].Details, &det))
	if evs[0].Actor != "bob" || evs[0].Target != "d1" || evs[0].IP != "192.0.2.7" || evs[0].RequestID != "req-12345678" ||
		det.Grantor != "ann" || det.Client != "ward" || !slices.Equal(det.Scopes, []string{"plans.read"}) {
		t.Errorf("event %+v details %+v", evs[0], det)
	}
	if got, _ := w.db.Delegations().Get(t.Context(), "d1"); !got.LastUsedAt.Equal(start) {
		t.Errorf("last used %v, want %v (the later uses within the minute are not written)", got.LastUsedAt, start)
	}
	w.now = start.Add(time.Minute + time.Second)
	w.svc.RecordUse(w.ctx(), d, "ward", []string{"plans.read"})
	if got, _ := w.db.Delegations().Get(t.Context(), "d1"); !got.LastUsedAt.Equal(w.now) {
		t.Errorf("last used %v, want %v", got.LastUsedAt, w.now)
	}
}
