package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

func newKey(id, state string) store.SigningKey {
	return store.SigningKey{
		ID:         id,
		Algorithm:  "ES256",
		PublicJWK:  []byte(`{"kty":"EC","kid":"` + id + `"}`),
		PrivateEnc: []byte("sealed-" + id),
		State:      state,
		CreatedAt:  at(0),
	}
}

func listKeys(t *testing.T, s store.Store) map[string]store.SigningKey {
	t.Helper()
	l, err := s.SigningKeys().List(t.Context())
	must(t, "List", err)
	m := make(map[string]store.SigningKey)
	for _, k := range l {
		m[k.ID] = k
	}
	return m
}

func testSigningKeys(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("InsertList", func(t *testing.T) {
		s := open(t)
		a, b := newKey("a", store.KeyRetired), newKey("b", store.KeyActive)
		a.ActivatedAt, a.RetiredAt = at(time.Hour), at(2*time.Hour)
		b.CreatedAt, b.ActivatedAt = at(time.Second), at(2*time.Hour)
		must(t, "Insert", s.SigningKeys().Insert(t.Context(), b))
		must(t, "Insert", s.SigningKeys().Insert(t.Context(), a))
		got, err := s.SigningKeys().List(t.Context())
		must(t, "List", err)
		same(t, "keys", got, []store.SigningKey{a, b})
	})
	t.Run("InsertTaken", func(t *testing.T) {
		s := open(t)
		must(t, "Insert", s.SigningKeys().Insert(t.Context(), newKey("k1", store.KeyNext)))
		wantErr(t, "Insert again", s.SigningKeys().Insert(t.Context(), newKey("k1", store.KeyNext)), store.ErrConflict)
	})
	t.Run("Promote", func(t *testing.T) {
		s := open(t)
		for _, k := range []store.SigningKey{newKey("old", store.KeyRetired), newKey("cur", store.KeyActive), newKey("new", store.KeyNext)} {
			must(t, "Insert", s.SigningKeys().Insert(t.Context(), k))
		}
		must(t, "Promote", s.SigningKeys().Promote(t.Context(), "new", at(time.Hour)))
		keys := listKeys(t, s)
		want := map[string]store.SigningKey{"old": newKey("old", store.KeyRetired), "cur": newKey("cur", store.KeyRetired), "new": newKey("new", store.KeyActive)}
		cur, nw := want["cur"], want["new"]
		cur.RetiredAt, nw.ActivatedAt = at(time.Hour), at(time.Hour)
		want["cur"], want["new"] = cur, nw
		for id, k := range want {
			same(t, "key "+id, keys[id], k)
		}
	})
	t.Run("PromotePerAlgorithm", func(t *testing.T) {
		// The server's key and the RS256 ID-token key rotate independently: promoting
		// one algorithm's key leaves the other algorithm's active key active.
		s := open(t)
		rsa, rsaNext := newKey("rsa", store.KeyActive), newKey("rsa-next", store.KeyNext)
		rsa.Algorithm, rsaNext.Algorithm = "RS256", "RS256"
		for _, k := range []store.SigningKey{newKey("ec", store.KeyActive), rsa, newKey("ec-next", store.KeyNext), rsaNext} {
			must(t, "Insert", s.SigningKeys().Insert(t.Context(), k))
		}
		must(t, "Promote", s.SigningKeys().Promote(t.Context(), "ec-next", at(time.Hour)))
		keys := listKeys(t, s)
		if keys["ec"].State != store.KeyRetired || keys["ec-next"].State != store.KeyActive || keys["rsa"].State != store.KeyActive {
			t.Fatalf("after promoting ec-next: ec %s, ec-next %s, rsa %s; want retired, active, active",
				keys["ec"].State, keys["ec-next"].State, keys["rsa"].State)
		}
		must(t, "Promote", s.SigningKeys().Promote(t.Context(), "rsa-next", at(2*time.Hour)))
		keys = listKeys(t, s)
		if keys["rsa"].State != store.KeyRetired || keys["rsa-next"].State != store.KeyActive || keys["ec-next"].State != store.KeyActive {
			t.Fatalf("after promoting rsa-next: rsa %s, rsa-next %s, ec-next %s; want retired, active, active",
				keys["rsa"].State, keys["rsa-next"].State, keys["ec-next"].State)
		}
	})
	t.Run("Retire", func(t *testing.T) {
		s := open(t)
		for _, k := range []store.SigningKey{newKey("act", store.KeyActive), newKey("next", store.KeyNext)} {
			must(t, "Insert", s.SigningKeys().Insert(t.Context(), k))
		}
		must(t, "Retire", s.SigningKeys().Retire(t.Context(), "act", at(time.Hour)))
		want := newKey("act", store.KeyRetired)
		want.RetiredAt = at(time.Hour)
		same(t, "retired key", listKeys(t, s)["act"], want)
		for _, kid := range []string{"act", "next", "missing"} {
			wantErr(t, "Retire "+kid, s.SigningKeys().Retire(t.Context(), kid, at(2*time.Hour)), store.ErrNotFound)
		}
		same(t, "next key", listKeys(t, s)["next"], newKey("next", store.KeyNext))
	})
	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		for _, k := range []store.SigningKey{newKey("act", store.KeyActive), newKey("next", store.KeyNext)} {
			must(t, "Insert", s.SigningKeys().Insert(t.Context(), k))
		}
		must(t, "Delete", s.SigningKeys().Delete(t.Context(), "act"))
		keys := listKeys(t, s)
		if _, ok := keys["act"]; ok || len(keys) != 1 {
			t.Errorf("keys left: %v, want next only", keys)
		}
		wantErr(t, "Delete again", s.SigningKeys().Delete(t.Context(), "act"), store.ErrNotFound)
	})
	t.Run("PromoteNotNext", func(t *testing.T) {
		for _, kid := range []string{"act", "ret", "missing"} {
			t.Run(kid, func(t *testing.T) {
				s := open(t)
				must(t, "Insert", s.SigningKeys().Insert(t.Context(), newKey("act", store.KeyActive)))
				must(t, "Insert", s.SigningKeys().Insert(t.Context(), newKey("ret", store.KeyRetired)))
				wantErr(t, "Promote", s.SigningKeys().Promote(t.Context(), kid, at(time.Hour)), store.ErrNotFound)
				if k := listKeys(t, s)["act"]; k.State != store.KeyActive || !k.RetiredAt.IsZero() {
					t.Errorf("refused promotion changed the active key: %+v", k)
				}
			})
		}
	})
	t.Run("PromoteConcurrent", func(t *testing.T) {
		// Promotions of the same key and of different keys at once: one active
		// key at the end, every other retired or still next.
		s := open(t)
		must(t, "Insert", s.SigningKeys().Insert(t.Context(), newKey("cur", store.KeyActive)))
		const candidates = 4
		for i := range candidates {
			must(t, "Insert", s.SigningKeys().Insert(t.Context(), newKey(fmt.Sprint("n", i), store.KeyNext)))
		}
		errs := race(4*candidates, func(i int) error {
			return s.SigningKeys().Promote(t.Context(), fmt.Sprint("n", i%candidates), at(time.Hour))
		})
		ok, notFound := tally(t, errs, store.ErrNotFound)
		if ok != candidates || notFound != 3*candidates {
			t.Errorf("%d promotions succeeded and %d got ErrNotFound, want %d and %d", ok, notFound, candidates, 3*candidates)
		}
		active := 0
		for _, k := range listKeys(t, s) {
			if k.State == store.KeyActive {
				active++
			}
		}
		if active != 1 {
			t.Errorf("%d active keys, want 1", active)
		}
	})
	t.Run("DeleteRetiredBefore", func(t *testing.T) {
		s := open(t)
		ks := []store.SigningKey{newKey("early", store.KeyRetired), newKey("late", store.KeyRetired), newKey("act", store.KeyActive), newKey("next", store.KeyNext)}
		ks[0].RetiredAt, ks[1].RetiredAt = at(time.Hour), at(3*time.Hour)
		for _, k := range ks {
			must(t, "Insert", s.SigningKeys().Insert(t.Context(), k))
		}
		n, err := s.SigningKeys().DeleteRetiredBefore(t.Context(), at(2*time.Hour))
		must(t, "DeleteRetiredBefore", err)
		if n != 1 {
			t.Errorf("DeleteRetiredBefore deleted %d, want 1", n)
		}
		keys := listKeys(t, s)
		if _, ok := keys["early"]; ok || len(keys) != 3 {
			t.Errorf("keys left: %v, want late, act and next", keys)
		}
	})
	t.Run("Reseal", func(t *testing.T) {
		s := open(t)
		k := newKey("k1", store.KeyActive)
		must(t, "Insert", s.SigningKeys().Insert(t.Context(), k))
		must(t, "Reseal", s.SigningKeys().Reseal(t.Context(), "k1", []byte("resealed")))
		k.PrivateEnc = []byte("resealed")
		same(t, "key", listKeys(t, s)["k1"], k)
		wantErr(t, "Reseal missing", s.SigningKeys().Reseal(t.Context(), "nope", []byte("x")), store.ErrNotFound)
	})
}
