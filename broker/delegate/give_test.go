package delegate

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/templates"
)

// TestGive: ann gives bob (or the ward app) part of her access: stored as asked,
// with a delegation.created event from the request's address.
func TestGive(t *testing.T) {
	for name, change := range map[string]func(r *Request){
		"to a person": nil,
		"to an app":   func(r *Request) { r.GranteeUserID, r.GranteeClientID = "", "ward" },
		"for the longest the policy allows, to be passed on": func(r *Request) {
			r.Scopes, r.MayRedelegate = []string{"plans.read", "plans.write", "plans.read"}, true
			r.ExpiresAt = time.Date(2031, 1, 8, 12, 0, 0, 0, time.UTC)
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			req := w.request(change)
			d, err := w.svc.Give(w.ctx(), "ann", req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := w.db.Delegations().Get(t.Context(), d.ID)
			w.must(err)
			want := store.Delegation{ID: d.ID, GrantorID: "ann", GranteeUserID: req.GranteeUserID,
				GranteeClientID: req.GranteeClientID, Audience: careAPI, Scopes: dedupe(req.Scopes), Note: req.Note,
				MayRedelegate: req.MayRedelegate, CreatedAt: w.now, ExpiresAt: req.ExpiresAt}
			if d.ID == "" || !sameDelegation(got, want) {
				t.Errorf("stored %+v\nwant %+v", got, want)
			}
			evs := w.events("delegation.created")
			if len(evs) != 1 || evs[0].Actor != "ann" || evs[0].Target != d.ID || evs[0].IP != "192.0.2.7" ||
				evs[0].RequestID != "req-12345678" {
				t.Errorf("audit events %+v", evs)
			}
		})
	}
}

func sameDelegation(a, b store.Delegation) bool {
	return a.ID == b.ID && a.GrantorID == b.GrantorID && a.GranteeUserID == b.GranteeUserID &&
		a.GranteeClientID == b.GranteeClientID && a.Audience == b.Audience && slices.Equal(a.Scopes, b.Scopes) &&
		a.Note == b.Note && a.MayRedelegate == b.MayRedelegate && a.ParentID == b.ParentID &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && a.RevokedAt.IsZero() == b.RevokedAt.IsZero()
}

// refusal is a request Give must refuse: with a problem containing want, and
// ErrForbidden (403) exactly when forbidden.
type refusal struct {
	name      string
	grantor   string
	change    func(r *Request)
	want      string
	forbidden bool
}

// checkRefused runs each refusal and asserts the error and that nothing was
// stored or audited.
func checkRefused(t *testing.T, w *world, cases []refusal) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.events("delegation.created"))
			var stored []int
			for _, u := range []string{"ann", "bob", "carol", "dave"} {
				l, err := w.db.Delegations().ListByGrantor(t.Context(), u)
				w.must(err)
				stored = append(stored, len(l))
			}
			grantor := tc.grantor
			if grantor == "" {
				grantor = "ann"
			}
			// Check (the page's review step) answers exactly as Give does.
			checkErr := w.svc.Check(w.ctx(), grantor, w.request(tc.change))
			d, err := w.svc.Give(w.ctx(), grantor, w.request(tc.change))
			if checkErr == nil || checkErr.Error() != err.Error() || errors.Is(checkErr, ErrForbidden) != errors.Is(err, ErrForbidden) {
				t.Errorf("Check: %v, Give: %v", checkErr, err)
			}
			var r *Refused
			if !errors.As(err, &r) {
				t.Fatalf("Give: %v (%+v), want a refusal", err, d)
			}
			// The problems are sentences; a want is part of one, in any case.
			if !slices.ContainsFunc(r.Problems, func(p templates.Msg) bool {
				return strings.Contains(strings.ToLower(p.In(t.Context())), strings.ToLower(tc.want))
			}) {
				t.Errorf("%v: lacks %q", err, tc.want)
			}
			if errors.Is(err, ErrForbidden) != tc.forbidden {
				t.Errorf("forbidden = %v, want %v (%q)", errors.Is(err, ErrForbidden), tc.forbidden, r.Problems)
			}
			for i, u := range []string{"ann", "bob", "carol", "dave"} {
				l, _ := w.db.Delegations().ListByGrantor(t.Context(), u)
				if len(l) != stored[i] {
					t.Errorf("a delegation by %s was stored: %+v", u, l)
				}
			}
			if n := len(w.events("delegation.created")); n != before {
				t.Errorf("%d delegation.created events, want %d", n, before)
			}
		})
	}
}

// TestASDEL04_GiveRefusals: every rule of a delegation, each refused with its
// problem and nothing stored. A scope the grantor does not hold is an escalation
// (SECURITY.md AS-DEL-04: 403); the rest are the policy's or the form's.
func TestASDEL04_GiveRefusals(t *testing.T) {
	w := newWorld(t)
	checkRefused(t, w, []refusal{
		{"a scope the grantor does not hold", "", func(r *Request) { r.Scopes = []string{"plans.read", "plans.admin"} },
			`you do not hold "plans.admin"`, true},
		{"a grantor without the role at all", "bob", func(r *Request) { r.GranteeUserID = "carol" },
			`you do not hold "plans.read"`, true},
		{"a non-delegable scope", "", func(r *Request) { r.Scopes = []string{"public.read"} },
			`"public.read" cannot be delegated`, false},
		{"not a scope of the API", "", func(r *Request) { r.Scopes = []string{"billing"} },
			`"billing" is not a permission of Care Plans`, false},
		{"no scope", "", func(r *Request) { r.Scopes = nil }, "at least one permission", false},
		{"an expiry beyond the policy", "", func(r *Request) { r.ExpiresAt = r.ExpiresAt.Add(6 * 24 * time.Hour) },
			"at most 7 days", false},
		{"an expiry in the past", "", func(r *Request) { r.ExpiresAt = time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC) },
			"in the future", false},
		{"an API that forbids delegation", "", func(r *Request) { r.Audience, r.Scopes = closedAPI, []string{"read"} },
			"access to Closed cannot be delegated", false},
		{"no such API", "", func(r *Request) { r.Audience = "https://nowhere.test" }, "no such API", false},
		{"a grant to oneself", "", func(r *Request) { r.GranteeUserID = "ann" }, "to yourself", false},
		{"a disabled grantee", "", func(r *Request) { r.GranteeUserID = "dave" }, "this person cannot be given access", false},
		{"an unknown grantee, in the same words", "", func(r *Request) { r.GranteeUserID = "nobody" },
			"this person cannot be given access", false},
		{"an app not allowed the API", "", func(r *Request) { r.GranteeUserID, r.GranteeClientID = "", "other" },
			"this app cannot be given access to this API", false},
		{"an unknown app", "", func(r *Request) { r.GranteeUserID, r.GranteeClientID = "", "nope" },
			"this app cannot be given access to this API", false},
		{"a person and an app", "", func(r *Request) { r.GranteeClientID = "ward" }, "one person or one app", false},
		{"nobody", "", func(r *Request) { r.GranteeUserID = "" }, "one person or one app", false},
		{"a note too long", "", func(r *Request) { r.Note = strings.Repeat("é", store.MaxDelegationNote+1) },
			"longer than 500 characters", false},
		{"a disabled grantor", "dave", nil, "your account may not give access", true},
		{"an app allowed to pass it on", "", func(r *Request) {
			r.GranteeUserID, r.GranteeClientID, r.MayRedelegate = "", "ward", true
		}, "an app cannot pass access on", false},
	})
}

// TestASDEL04_RedelegationRefusals: bob passes on what ann gave him only if she
// let him, only within what he received and still holds through her, no longer
// than his own, and only if the API's policy allows passing on; carol cannot pass
// on what was given to bob. Each refused with nothing stored.
func TestASDEL04_RedelegationRefusals(t *testing.T) {
	w := newWorld(t)
	passable := w.give(store.Delegation{ID: "ann-bob", GrantorID: "ann", GranteeUserID: "bob", Scopes: []string{"plans.read"},
		MayRedelegate: true})
	w.give(store.Delegation{ID: "ann-bob-kept", GrantorID: "ann", GranteeUserID: "bob", Scopes: []string{"plans.read"}})
	w.give(store.Delegation{ID: "ann-bob-ended", GrantorID: "ann", GranteeUserID: "bob", Scopes: []string{"plans.read"},
		MayRedelegate: true, RevokedAt: w.now, EndReason: store.DelegationEndRevoked})
	pass := func(parent string, change func(r *Request)) func(r *Request) {
		return func(r *Request) {
			r.GranteeUserID, r.ParentID = "carol", parent
			if change != nil {
				change(r)
			}
		}
	}
	checkRefused(t, w, []refusal{
		{"wider than received", "bob", pass("ann-bob", func(r *Request) { r.Scopes = []string{"plans.read", "plans.write"} }),
			`"plans.write" is not part of the access you received`, true},
		{"without permission to pass it on", "bob", pass("ann-bob-kept", nil), "may not be passed on", true},
		{"an ended delegation", "bob", pass("ann-bob-ended", nil), "has ended", true},
		{"someone else's delegation", "carol", pass("ann-bob", func(r *Request) { r.GranteeUserID = "bob" }),
			"was not given to you", true},
		{"no such delegation", "bob", pass("nope", nil), "was not given to you", true},
		{"longer than received", "bob", pass("ann-bob", func(r *Request) { r.ExpiresAt = passable.ExpiresAt.Add(time.Hour) }),
			"ends earlier than that", false},
	})

	// The policy stops passing on: bob may no longer, even what he may pass on.
	api, err := w.db.APIs().Get(t.Context(), "care")
	w.must(err)
	api.Delegation.Redelegation = false
	w.must(w.db.APIs().Update(t.Context(), api))
	checkRefused(t, w, []refusal{
		{"the policy forbids passing on", "bob", pass("ann-bob", nil), "access to Care Plans may not be passed on", true},
		{"permission to pass on, the policy forbidding it", "", func(r *Request) { r.MayRedelegate = true },
			"access to Care Plans may not be passed on", false},
	})
	api, err = w.db.APIs().Get(t.Context(), "care") // the version the update above stored (DATA-11)
	w.must(err)
	api.Delegation.Redelegation = true
	w.must(w.db.APIs().Update(t.Context(), api))

	// ann's role rule goes: what bob received covers nothing he could pass on.
	w.setRules()
	checkRefused(t, w, []refusal{
		{"the grantor lost the scope", "bob", pass("ann-bob", nil), `"plans.read" is not part of the access you received`, true},
	})
}

// TestGiveRedelegation: bob passes on part of what ann let him pass on; the
// re-delegation records where it came from.
func TestGiveRedelegation(t *testing.T) {
	w := newWorld(t)
	w.give(store.Delegation{ID: "ann-bob", GrantorID: "ann", GranteeUserID: "bob", Scopes: []string{"plans.read", "plans.write"},
		MayRedelegate: true})
	d, err := w.svc.Give(w.ctx(), "bob", w.request(func(r *Request) {
		r.GranteeUserID, r.ParentID, r.ExpiresAt = "carol", "ann-bob", w.now.Add(24*time.Hour)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := w.db.Delegations().Get(t.Context(), d.ID); got.ParentID != "ann-bob" || got.GrantorID != "bob" ||
		!slices.Equal(got.Scopes, []string{"plans.read"}) {
		t.Errorf("stored %+v", got)
	}
}

// TestDelegable: what the give-access page offers is the policy's delegable
// scopes the person holds now (ann, a clinician: not plans.admin, not the
// non-delegable public.read), nothing for an API that allows no delegation, and
// Check accepts a request Give would store, storing nothing.
func TestDelegable(t *testing.T) {
	w := newWorld(t)
	care, err := w.db.APIs().GetByAudience(t.Context(), careAPI)
	w.must(err)
	closed, err := w.db.APIs().GetByAudience(t.Context(), closedAPI)
	w.must(err)
	got, err := w.svc.Delegable(t.Context(), "ann", care)
	w.must(err)
	none, err := w.svc.Delegable(t.Context(), "ann", closed)
	w.must(err)
	if !slices.Equal(got, []string{"plans.read", "plans.write"}) || len(none) != 0 {
		t.Errorf("Delegable = %q and %q", got, none)
	}
	if err := w.svc.Check(w.ctx(), "ann", w.request(nil)); err != nil {
		t.Errorf("Check: %v", err)
	}
	if l, _ := w.db.Delegations().ListByGrantor(t.Context(), "ann"); len(l) != 0 || len(w.events("delegation.created")) != 0 {
		t.Errorf("Check stored %+v", l)
	}
}
