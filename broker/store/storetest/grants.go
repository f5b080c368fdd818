package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

func newConsent(userID, clientID string) store.Consent {
	return store.Consent{
		UserID:     userID,
		ClientID:   clientID,
		Scopes:     []string{"openid", "email"},
		CreatedAt:  at(0),
		UpdatedAt:  at(time.Second),
		LastUsedAt: at(time.Minute),
	}
}

func testConsents(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("PutGet", func(t *testing.T) {
		s := open(t)
		c := newConsent("u1", "c1")
		must(t, "Put", s.Consents().Put(t.Context(), c))
		got, err := s.Consents().Get(t.Context(), "u1", "c1")
		must(t, "Get", err)
		same(t, "consent", got, c)
	})
	t.Run("GetMissing", func(t *testing.T) {
		s := open(t)
		must(t, "Put", s.Consents().Put(t.Context(), newConsent("u1", "c1")))
		_, err := s.Consents().Get(t.Context(), "u1", "c2")
		wantErr(t, "Get", err, store.ErrNotFound)
		_, err = s.Consents().Get(t.Context(), "u2", "c1")
		wantErr(t, "Get", err, store.ErrNotFound)
	})
	t.Run("PutReplaces", func(t *testing.T) {
		s := open(t)
		c := newConsent("u1", "c1")
		must(t, "Put", s.Consents().Put(t.Context(), c))
		again := store.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"openid", "email", "profile"},
			CreatedAt: at(time.Hour), UpdatedAt: at(time.Hour), LastUsedAt: at(time.Hour)}
		must(t, "Put again", s.Consents().Put(t.Context(), again))
		got, err := s.Consents().Get(t.Context(), "u1", "c1")
		must(t, "Get", err)
		again.CreatedAt = c.CreatedAt // when the user first agreed
		same(t, "consent", got, again)
	})
	t.Run("ListForUser", func(t *testing.T) {
		s := open(t)
		b, a := newConsent("u1", "b"), newConsent("u1", "a")
		for _, c := range []store.Consent{b, a, newConsent("u2", "a")} {
			must(t, "Put", s.Consents().Put(t.Context(), c))
		}
		got, err := s.Consents().ListForUser(t.Context(), "u1")
		must(t, "ListForUser", err)
		same(t, "consents", got, []store.Consent{a, b})
	})
	t.Run("Touch", func(t *testing.T) {
		s := open(t)
		c := newConsent("u1", "c1")
		must(t, "Put", s.Consents().Put(t.Context(), c))
		must(t, "Touch", s.Consents().Touch(t.Context(), "u1", "c1", at(time.Hour)))
		c.LastUsedAt = at(time.Hour)
		got, err := s.Consents().Get(t.Context(), "u1", "c1")
		must(t, "Get", err)
		same(t, "consent", got, c)
		wantErr(t, "Touch missing", s.Consents().Touch(t.Context(), "u1", "c2", at(0)), store.ErrNotFound)
	})
	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		must(t, "Put", s.Consents().Put(t.Context(), newConsent("u1", "c1")))
		must(t, "Put", s.Consents().Put(t.Context(), newConsent("u1", "c2")))
		must(t, "Delete", s.Consents().Delete(t.Context(), "u1", "c1"))
		_, err := s.Consents().Get(t.Context(), "u1", "c1")
		wantErr(t, "Get after Delete", err, store.ErrNotFound)
		wantErr(t, "Delete again", s.Consents().Delete(t.Context(), "u1", "c1"), store.ErrNotFound)
		_, err = s.Consents().Get(t.Context(), "u1", "c2")
		must(t, "Get the other consent", err)
	})
	t.Run("DeleteForClient", func(t *testing.T) {
		s := open(t)
		for _, uc := range [][2]string{{"u1", "c1"}, {"u2", "c1"}, {"u1", "c2"}} {
			must(t, "Put", s.Consents().Put(t.Context(), newConsent(uc[0], uc[1])))
		}
		n, err := s.Consents().DeleteForClient(t.Context(), "c1")
		must(t, "DeleteForClient", err)
		if n != 2 {
			t.Fatalf("DeleteForClient deleted %d, want 2", n)
		}
		for _, u := range []string{"u1", "u2"} {
			_, err := s.Consents().Get(t.Context(), u, "c1")
			wantErr(t, "Get after DeleteForClient", err, store.ErrNotFound)
		}
		_, err = s.Consents().Get(t.Context(), "u1", "c2")
		must(t, "Get another client's consent", err)
	})
}

func newDelegation(id, grantor, granteeUser, granteeClient string) store.Delegation {
	return store.Delegation{
		ID:              id,
		GrantorID:       grantor,
		GranteeUserID:   granteeUser,
		GranteeClientID: granteeClient,
		Audience:        "https://api.example.com",
		Scopes:          []string{"read", "write"},
		CreatedAt:       at(0),
		ExpiresAt:       at(30 * 24 * time.Hour),
	}
}

func testDelegations(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		s := open(t)
		d := newDelegation("d1", "alice", "bob", "")
		d.RevokedAt, d.EndReason = at(time.Hour), store.DelegationEndDeclined
		d.Note, d.MayRedelegate, d.ParentID = "Cover my shift — \"ward 3\" <until Friday>", true, "d0"
		d.LastUsedAt = at(time.Minute)
		d.Withheld = []string{"write"}
		must(t, "Create", s.Delegations().Create(t.Context(), d))
		got, err := s.Delegations().Get(t.Context(), "d1")
		must(t, "Get", err)
		same(t, "delegation", got, d)
	})
	t.Run("CreateTaken", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.Delegations().Create(t.Context(), newDelegation("d1", "alice", "bob", "")))
		err := s.Delegations().Create(t.Context(), newDelegation("d1", "carol", "bob", ""))
		wantErr(t, "Create again", err, store.ErrConflict)
	})
	t.Run("GetMissing", func(t *testing.T) {
		_, err := open(t).Delegations().Get(t.Context(), "d1")
		wantErr(t, "Get", err, store.ErrNotFound)
	})
	t.Run("Lists", func(t *testing.T) {
		s := open(t)
		ds := []store.Delegation{
			newDelegation("d1", "alice", "bob", ""),
			newDelegation("d2", "alice", "", "cli"),
			newDelegation("d3", "carol", "bob", ""),
			newDelegation("d4", "carol", "", "other-cli"),
		}
		for i := range ds {
			ds[i].CreatedAt = at(time.Duration(len(ds)-i) * time.Second) // listed oldest first
			must(t, "Create", s.Delegations().Create(t.Context(), ds[i]))
		}
		ids := func(l []store.Delegation) []string {
			var out []string
			for _, d := range l {
				out = append(out, d.ID)
			}
			return out
		}
		got, err := s.Delegations().ListByGrantor(t.Context(), "alice")
		must(t, "ListByGrantor", err)
		same(t, "delegations", got, []store.Delegation{ds[1], ds[0]})
		for _, tc := range []struct {
			user, client string
			want         []string
		}{
			{"bob", "", []string{"d3", "d1"}},
			{"", "cli", []string{"d2"}},
			{"bob", "cli", []string{"d3", "d2", "d1"}},
			{"", "", nil},
			{"nobody", "", nil},
		} {
			got, err := s.Delegations().ListByGrantee(t.Context(), tc.user, tc.client)
			must(t, "ListByGrantee", err)
			same(t, "ListByGrantee("+tc.user+", "+tc.client+")", ids(got), tc.want)
		}
	})
	t.Run("Revoke", func(t *testing.T) {
		s := open(t)
		d := newDelegation("d1", "alice", "bob", "")
		must(t, "Create", s.Delegations().Create(t.Context(), d))
		for _, tc := range []struct{ id, grantor string }{{"d1", "bob"}, {"d1", ""}, {"d2", "alice"}} {
			err := s.Delegations().Revoke(t.Context(), tc.id, tc.grantor, at(time.Hour))
			wantErr(t, "Revoke("+tc.id+", "+tc.grantor+")", err, store.ErrNotFound)
		}
		must(t, "Revoke", s.Delegations().Revoke(t.Context(), "d1", "alice", at(time.Hour)))
		must(t, "Revoke again", s.Delegations().Revoke(t.Context(), "d1", "alice", at(2*time.Hour)))
		got, err := s.Delegations().Get(t.Context(), "d1")
		must(t, "Get", err)
		d.RevokedAt = at(time.Hour) // the first revocation counts
		d.EndReason = store.DelegationEndRevoked
		same(t, "delegation", got, d)
		must(t, "End after Revoke", s.Delegations().End(t.Context(), "d1", at(3*time.Hour), store.DelegationEndDeclined))
		got, err = s.Delegations().Get(t.Context(), "d1")
		must(t, "Get", err)
		same(t, "delegation after End", got, d)
	})
	t.Run("End", func(t *testing.T) {
		s := open(t)
		d := newDelegation("d1", "alice", "bob", "")
		must(t, "Create", s.Delegations().Create(t.Context(), d))
		wantErr(t, "End missing", s.Delegations().End(t.Context(), "d2", at(time.Hour), store.DelegationEndDeclined),
			store.ErrNotFound)
		must(t, "End", s.Delegations().End(t.Context(), "d1", at(time.Hour), store.DelegationEndDeclined))
		// The first end wins, time and reason together.
		must(t, "End again", s.Delegations().End(t.Context(), "d1", at(2*time.Hour), store.DelegationEndParentEnded))
		must(t, "Revoke after End", s.Delegations().Revoke(t.Context(), "d1", "alice", at(3*time.Hour)))
		got, err := s.Delegations().Get(t.Context(), "d1")
		must(t, "Get", err)
		d.RevokedAt, d.EndReason = at(time.Hour), store.DelegationEndDeclined
		same(t, "delegation", got, d)
	})
	t.Run("ListByParent", func(t *testing.T) {
		s := open(t)
		ds := []store.Delegation{
			newDelegation("d1", "alice", "bob", ""),
			newDelegation("d2", "bob", "carol", ""),
			newDelegation("d3", "bob", "", "cli"),
			newDelegation("d4", "carol", "dave", ""),
		}
		ds[1].ParentID, ds[2].ParentID, ds[3].ParentID = "d1", "d1", "d2"
		ds[2].CreatedAt = at(-time.Second) // listed oldest first
		for _, d := range ds {
			must(t, "Create", s.Delegations().Create(t.Context(), d))
		}
		got, err := s.Delegations().ListByParent(t.Context(), "d1")
		must(t, "ListByParent", err)
		same(t, "children of d1", got, []store.Delegation{ds[2], ds[1]})
		for _, id := range []string{"", "d3", "nope"} {
			got, err := s.Delegations().ListByParent(t.Context(), id)
			must(t, "ListByParent", err)
			same(t, "children of "+id, len(got), 0)
		}
	})
	t.Run("Touch", func(t *testing.T) {
		s := open(t)
		d := newDelegation("d1", "alice", "bob", "")
		must(t, "Create", s.Delegations().Create(t.Context(), d))
		must(t, "Touch", s.Delegations().Touch(t.Context(), "d1", at(time.Minute)))
		must(t, "Touch", s.Delegations().Touch(t.Context(), "d1", at(2*time.Minute)))
		wantErr(t, "Touch missing", s.Delegations().Touch(t.Context(), "d2", at(time.Minute)), store.ErrNotFound)
		got, err := s.Delegations().Get(t.Context(), "d1")
		must(t, "Get", err)
		d.LastUsedAt = at(2 * time.Minute)
		same(t, "delegation", got, d)
	})
	t.Run("ListExpired", func(t *testing.T) {
		s := open(t)
		ds := []store.Delegation{
			newDelegation("past", "alice", "bob", ""),
			newDelegation("now", "alice", "bob", ""),
			newDelegation("child", "bob", "carol", ""), // same expiry as "now", created later
			newDelegation("ended", "alice", "bob", ""),
			newDelegation("live", "alice", "bob", ""),
		}
		ds[0].ExpiresAt = at(time.Hour)
		ds[1].ExpiresAt, ds[2].ExpiresAt, ds[2].CreatedAt, ds[2].ParentID = at(2*time.Hour), at(2*time.Hour), at(time.Second), "now"
		ds[3].ExpiresAt, ds[3].RevokedAt, ds[3].EndReason = at(time.Hour), at(time.Minute), store.DelegationEndRevoked
		ds[4].ExpiresAt = at(2*time.Hour + time.Second)
		for _, d := range ds {
			must(t, "Create", s.Delegations().Create(t.Context(), d))
		}
		got, err := s.Delegations().ListExpired(t.Context(), at(2*time.Hour), 10)
		must(t, "ListExpired", err)
		same(t, "expired at 2h", got, []store.Delegation{ds[0], ds[2], ds[1]})
		got, err = s.Delegations().ListExpired(t.Context(), at(2*time.Hour), 1)
		must(t, "ListExpired", err)
		same(t, "expired at 2h, limit 1", got, []store.Delegation{ds[0]})
		must(t, "End", s.Delegations().End(t.Context(), "past", at(2*time.Hour), store.DelegationEndExpired))
		got, err = s.Delegations().ListExpired(t.Context(), at(time.Hour), 10)
		must(t, "ListExpired", err)
		same(t, "expired at 1h after the end", len(got), 0)
		d, err := s.Delegations().Get(t.Context(), "past")
		must(t, "Get", err)
		same(t, "status of a delegation ended as expired", d.Status(at(3*time.Hour), 0), store.DelegationExpired)
	})
	t.Run("Withhold", func(t *testing.T) {
		s := open(t)
		d := newDelegation("d1", "alice", "bob", "")
		must(t, "Create", s.Delegations().Create(t.Context(), d))
		must(t, "Withhold", s.Delegations().Withhold(t.Context(), "d1", []string{"write"}))
		got, err := s.Delegations().Get(t.Context(), "d1")
		must(t, "Get", err)
		d.Withheld = []string{"write"}
		same(t, "delegation", got, d)
		must(t, "Withhold none", s.Delegations().Withhold(t.Context(), "d1", nil))
		got, err = s.Delegations().Get(t.Context(), "d1")
		must(t, "Get", err)
		same(t, "withheld after none", len(got.Withheld), 0)
		wantErr(t, "Withhold missing", s.Delegations().Withhold(t.Context(), "d2", nil), store.ErrNotFound)
	})
	t.Run("GrantorsAt", func(t *testing.T) {
		s := open(t)
		for _, p := range []string{"p1", "p2"} {
			must(t, "Create", s.Providers().Create(t.Context(), newProvider(p)))
		}
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			createUser(t, s, u)
		}
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("p1", "a", "alice")))
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("p1", "b", "bob")))
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("p1", "c", "carol")))
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("p2", "d", "dave")))
		ds := []store.Delegation{
			newDelegation("a1", "alice", "bob", ""),
			newDelegation("a2", "alice", "carol", ""), // alice is listed once
			newDelegation("b1", "bob", "alice", ""),   // ended
			newDelegation("c1", "carol", "alice", ""), // expired
			newDelegation("d1", "dave", "alice", ""),  // at another provider
		}
		ds[2].RevokedAt, ds[2].EndReason = at(time.Minute), store.DelegationEndRevoked
		ds[3].ExpiresAt = at(time.Hour)
		for _, d := range ds {
			must(t, "Create", s.Delegations().Create(t.Context(), d))
		}
		got, err := s.Delegations().GrantorsAt(t.Context(), "p1", at(time.Hour))
		must(t, "GrantorsAt", err)
		same(t, "grantors at p1", got, []string{"alice"})
		got, err = s.Delegations().GrantorsAt(t.Context(), "p3", at(0))
		must(t, "GrantorsAt", err)
		same(t, "grantors at p3", len(got), 0)
	})
}
