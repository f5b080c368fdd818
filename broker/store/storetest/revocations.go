package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

func testRevocations(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("LatestOfSeveralKeys", func(t *testing.T) {
		s := open(t)
		r := s.Revocations()
		got, err := r.Latest(t.Context(), []string{"jti:a", "grant:g"})
		must(t, "Latest on empty", err)
		same(t, "latest on empty", got, time.Time{})
		must(t, "Revoke", r.Revoke(t.Context(), at(time.Second), at(time.Hour), "jti:a"))
		must(t, "Revoke", r.Revoke(t.Context(), at(2*time.Second), at(time.Hour), "grant:g"))
		must(t, "Revoke", r.Revoke(t.Context(), at(time.Minute), at(time.Hour), "grant:other"))
		got, err = r.Latest(t.Context(), []string{"jti:a", "grant:g", "session:none"})
		must(t, "Latest", err)
		same(t, "latest", got, at(2*time.Second))
		got, err = r.Latest(t.Context(), nil)
		must(t, "Latest of no keys", err)
		same(t, "latest of no keys", got, time.Time{})
		// Every number of keys, the same answer (backends may prepare per count).
		keys := []string{"grant:g"}
		for n := 1; n <= 12; n++ {
			got, err = r.Latest(t.Context(), keys)
			must(t, "Latest", err)
			same(t, fmt.Sprint("latest of ", n, " keys"), got, at(2*time.Second))
			keys = append(keys, fmt.Sprint("jti:none", n))
		}
	})
	t.Run("Standing", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		standing := func(what string, of store.StandingOf, want store.Standing) {
			t.Helper()
			got, err := s.Revocations().Standing(ctx, of)
			must(t, what, err)
			same(t, what, got, want)
		}
		createUser(t, s, "u1")
		must(t, "Providers.Create", s.Providers().Create(ctx, newProvider("google")))
		must(t, "Sessions.Create", s.Sessions().Create(ctx, newSession("s1", "u1")))
		standing("no session, no keys", store.StandingOf{UserID: "u1"}, store.Standing{UserActive: true})
		standing("a live session", store.StandingOf{UserID: "u1", SessionID: "s1"}, store.Standing{UserActive: true})
		standing("no such user or session", store.StandingOf{UserID: "nobody", SessionID: "s-gone"},
			store.Standing{SessionEnded: true})

		must(t, "Revoke", s.Revocations().Revoke(ctx, at(time.Second), at(time.Hour), "grant:g"))
		must(t, "Revoke", s.Revocations().Revoke(ctx, at(time.Minute), at(time.Hour), "user:u1"))
		must(t, "Revoke", s.Revocations().Revoke(ctx, at(time.Hour), at(2*time.Hour), "user:other"))
		// Every number of keys, the same answer (backends may prepare per count).
		keys := []string{"grant:g", "user:u1"}
		for n := 2; n <= 12; n++ {
			standing(fmt.Sprint(n, " keys"), store.StandingOf{UserID: "u1", SessionID: "s1", Keys: keys},
				store.Standing{UserActive: true, Revoked: at(time.Minute)})
			keys = append(keys, fmt.Sprint("jti:none", n))
		}
		standing("keys without an entry", store.StandingOf{UserID: "u1", Keys: []string{"grant:none"}},
			store.Standing{UserActive: true})

		u := newUser("u1")
		u.Disabled = true
		must(t, "Users.Update", s.Users().Update(ctx, u))
		standing("a disabled user", store.StandingOf{UserID: "u1", SessionID: "s1"}, store.Standing{})

		p, err := s.Providers().Get(ctx, "google")
		must(t, "Providers.Get", err)
		p.Enabled = false
		must(t, "Providers.Update", s.Providers().Update(ctx, p))
		standing("its provider disabled", store.StandingOf{UserID: "u1", SessionID: "s1"}, store.Standing{SessionEnded: true})
		p.Enabled, p.Version = true, p.Version+1
		must(t, "Providers.Update", s.Providers().Update(ctx, p))
		standing("its provider enabled again", store.StandingOf{UserID: "u1", SessionID: "s1"}, store.Standing{})
		must(t, "Sessions.Delete", s.Sessions().Delete(ctx, "s1"))
		standing("the session ended", store.StandingOf{UserID: "u1", SessionID: "s1"}, store.Standing{SessionEnded: true})
	})
	t.Run("RevokeAgainNeverShrinks", func(t *testing.T) {
		s := open(t)
		r := s.Revocations()
		must(t, "Revoke", r.Revoke(t.Context(), at(time.Minute), at(2*time.Hour), "user:u"))
		must(t, "Revoke earlier", r.Revoke(t.Context(), at(time.Second), at(time.Hour), "user:u"))
		got, err := r.Latest(t.Context(), []string{"user:u"})
		must(t, "Latest", err)
		same(t, "latest", got, at(time.Minute))
		// keep_until stayed at 2h: a sweep at 1h30 keeps the entry.
		n, err := r.DeleteExpired(t.Context(), at(90*time.Minute))
		must(t, "DeleteExpired", err)
		same(t, "swept", n, int64(0))
		must(t, "Revoke later", r.Revoke(t.Context(), at(time.Hour), at(3*time.Hour), "user:u"))
		got, err = r.Latest(t.Context(), []string{"user:u"})
		must(t, "Latest", err)
		same(t, "latest", got, at(time.Hour))
	})
	t.Run("RevokeSeveralKeys", func(t *testing.T) {
		s := open(t)
		r := s.Revocations()
		must(t, "Revoke", r.Revoke(t.Context(), at(time.Hour), at(3*time.Hour), "session:b"))
		// A key listed twice is one row; a stored later time still wins.
		must(t, "Revoke several", r.Revoke(t.Context(), at(time.Minute), at(2*time.Hour), "session:a", "session:b", "session:a"))
		for key, want := range map[string]time.Time{"session:a": at(time.Minute), "session:b": at(time.Hour), "session:c": {}} {
			got, err := r.Latest(t.Context(), []string{key})
			must(t, "Latest", err)
			same(t, "latest of "+key, got, want)
		}
		if err := r.Revoke(t.Context(), at(0), at(time.Hour)); err == nil {
			t.Error("Revoke of no keys succeeded")
		}
		if err := r.Revoke(t.Context(), at(0), at(time.Hour), append(make([]string, store.MaxListed), "session:c")...); err == nil {
			t.Errorf("Revoke of %d keys succeeded, want at most %d", store.MaxListed+1, store.MaxListed)
		}
		got, err := r.Latest(t.Context(), []string{"session:c"})
		must(t, "Latest", err)
		same(t, "latest of session:c after the refusal", got, time.Time{})
	})
	t.Run("DeleteExpired", func(t *testing.T) {
		s := open(t)
		r := s.Revocations()
		must(t, "Revoke", r.Revoke(t.Context(), at(0), at(time.Minute), "jti:old"))
		must(t, "Revoke", r.Revoke(t.Context(), at(0), at(time.Hour), "jti:new"))
		n, err := r.DeleteExpired(t.Context(), at(30*time.Minute))
		must(t, "DeleteExpired", err)
		same(t, "swept", n, int64(1))
		got, err := r.Latest(t.Context(), []string{"jti:old"})
		must(t, "Latest", err)
		same(t, "latest after sweep", got, time.Time{})
	})
	t.Run("ConcurrentRevokes", func(t *testing.T) {
		s := open(t)
		errs := race(concurrency, func(i int) error {
			return s.Revocations().Revoke(t.Context(), at(time.Duration(i)*time.Second), at(time.Hour), "grant:g")
		})
		ok, _ := tally(t, errs, store.ErrConflict)
		same(t, "successful revokes", ok, concurrency)
		got, err := s.Revocations().Latest(t.Context(), []string{"grant:g"})
		must(t, "Latest", err)
		same(t, "latest", got, at(time.Duration(concurrency-1)*time.Second))
	})
}
