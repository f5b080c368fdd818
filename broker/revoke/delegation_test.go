package revoke

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// delegationWorld stores a chain alice → bob (d1) → carol (d2, re-delegated from
// d1) → dave (d3, from d2), an unrelated alice → erin (d4) and an expired
// zoe → bob (d5), each with one refresh token.
func delegationWorld(t *testing.T, now time.Time) *sqlstore.DB {
	t.Helper()
	ctx := t.Context()
	db := testsupport.OpenSQLite(t)
	for _, d := range []store.Delegation{
		{ID: "d1", GrantorID: "alice", GranteeUserID: "bob", MayRedelegate: true},
		{ID: "d2", GrantorID: "bob", GranteeUserID: "carol", ParentID: "d1", MayRedelegate: true},
		{ID: "d3", GrantorID: "carol", GranteeUserID: "dave", ParentID: "d2"},
		{ID: "d4", GrantorID: "alice", GranteeUserID: "erin"},
		{ID: "d5", GrantorID: "zoe", GranteeUserID: "bob", ExpiresAt: now.Add(-time.Hour)},
	} {
		d.Audience, d.Scopes, d.CreatedAt = "https://care.test", []string{"plans.read"}, now.Add(-time.Hour)
		if d.ExpiresAt.IsZero() {
			d.ExpiresAt = now.Add(24 * time.Hour)
		}
		if err := db.Delegations().Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		rt := store.RefreshToken{TokenHash: []byte("rt-" + d.ID), FamilyID: "f-" + d.ID, GrantID: "g-" + d.ID, ClientID: "ward",
			UserID: d.GrantorID, DelegationID: d.ID, CreatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}
		if err := db.RefreshTokens().Create(ctx, rt); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// checkEnded asserts which delegations ended and why (want: ID → reason, ""
// for still active), that the refresh tokens of exactly the ended ones are
// revoked, and that the access tokens under them are inactive, also one issued
// after the end by a request that raced it.
func checkEnded(t *testing.T, db *sqlstore.DB, now time.Time, want map[string]string) {
	t.Helper()
	ctx := t.Context()
	for id, reason := range want {
		d, err := db.Delegations().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.EndReason != reason || d.RevokedAt.IsZero() != (reason == "") {
			t.Errorf("%s: ended %v for %q, want %q", id, d.RevokedAt, d.EndReason, reason)
		}
		rt, err := db.RefreshTokens().GetByHash(ctx, []byte("rt-"+id))
		if err != nil {
			t.Fatal(err)
		}
		if rt.RevokedAt.IsZero() != (reason == "") {
			t.Errorf("%s: refresh token revoked at %v", id, rt.RevokedAt)
		}
		for _, iat := range []time.Time{now.Add(-time.Minute), now.Add(time.Second)} {
			cl := token.AccessClaims{ID: "j-" + id, ClientID: "ward", Subject: d.GrantorID, GrantID: "g-" + id,
				Act: &token.Actor{Subject: d.GranteeUserID}, DelegationID: id, IssuedAt: iat.Unix()}
			latest, err := db.Revocations().Latest(ctx, cl.RevocationKeys())
			if err != nil {
				t.Fatal(err)
			}
			// As verifyAccessToken decides: revoked if issued at or before the entry.
			if revoked := !latest.IsZero() && !latest.Before(time.Unix(cl.IssuedAt, 0)); revoked != (reason != "") {
				t.Errorf("%s: access token issued at %v revoked = %v", id, iat, revoked)
			}
		}
	}
}

// TestDelegationEndsItsRedelegations: ending a delegation ends the
// re-delegations given from it (reason parent_ended), revokes the refresh tokens
// of each and makes their access tokens inactive; the others are untouched. The
// first end wins, and no such delegation is ErrNotFound.
func TestDelegationEndsItsRedelegations(t *testing.T) {
	now := time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC)
	db := delegationWorld(t, now)
	if err := Delegation(t.Context(), db, "d1", store.DelegationEndRevoked, now, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"d1": "revoked", "d2": "parent_ended", "d3": "parent_ended", "d4": ""}
	checkEnded(t, db, now, want)
	if err := Delegation(t.Context(), db, "d2", store.DelegationEndDeclined, now.Add(time.Hour), 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	checkEnded(t, db, now, want)
	if err := Delegation(t.Context(), db, "nope", store.DelegationEndRevoked, now, time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown delegation: %v, want ErrNotFound", err)
	}
}

// TestUserDelegations: disabling bob ends what he received (grantee_disabled),
// what he gave (grantor_disabled) and what was given from those; an expired
// delegation stays as it was, and the others are untouched.
func TestUserDelegations(t *testing.T) {
	now := time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC)
	db := delegationWorld(t, now)
	n, err := UserDelegations(t.Context(), db, "bob", now, 10*time.Minute)
	if err != nil || n != 2 {
		t.Fatalf("ended %d (%v), want 2", n, err)
	}
	checkEnded(t, db, now, map[string]string{"d1": "grantee_disabled", "d2": "grantor_disabled", "d3": "parent_ended", "d4": ""})
	if d, _ := db.Delegations().Get(t.Context(), "d5"); !d.RevokedAt.IsZero() {
		t.Errorf("the expired delegation was ended: %+v", d)
	}
}

// TestDelegationTokensKeepsTheDelegation: revoking what was issued under d1
// revokes its refresh token and its access tokens issued up to now, but not
// one issued after, and ends nothing: not d1, not the re-delegations from it,
// whose tokens stay.
func TestDelegationTokensKeepsTheDelegation(t *testing.T) {
	now := time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC)
	db := delegationWorld(t, now)
	ctx := t.Context()
	n, err := DelegationTokens(ctx, db, "d1", now, 10*time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("revoked %d refresh tokens (%v), want 1", n, err)
	}
	for _, id := range []string{"d1", "d2", "d3"} {
		d, err := db.Delegations().Get(ctx, id)
		if err != nil || !d.RevokedAt.IsZero() {
			t.Errorf("%s ended: %+v %v", id, d, err)
		}
		rt, err := db.RefreshTokens().GetByHash(ctx, []byte("rt-"+id))
		if err != nil || rt.RevokedAt.IsZero() != (id != "d1") {
			t.Errorf("%s: refresh token revoked at %v (%v)", id, rt.RevokedAt, err)
		}
	}
	for iat, want := range map[time.Time]bool{now.Add(-time.Minute): true, now: true, now.Add(time.Second): false} {
		cl := token.AccessClaims{ID: "j", ClientID: "ward", Subject: "alice", DelegationID: "d1", IssuedAt: iat.Unix()}
		latest, err := db.Revocations().Latest(ctx, cl.RevocationKeys())
		if err != nil {
			t.Fatal(err)
		}
		if revoked := !latest.IsZero() && !latest.Before(time.Unix(cl.IssuedAt, 0)); revoked != want {
			t.Errorf("access token issued at %v: revoked = %v, want %v", iat, revoked, want)
		}
	}
}
