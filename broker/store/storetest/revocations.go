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
		must(t, "Revoke", r.Revoke(t.Context(), "jti:a", at(time.Second), at(time.Hour)))
		must(t, "Revoke", r.Revoke(t.Context(), "grant:g", at(2*time.Second), at(time.Hour)))
		must(t, "Revoke", r.Revoke(t.Context(), "grant:other", at(time.Minute), at(time.Hour)))
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
	t.Run("RevokeAgainNeverShrinks", func(t *testing.T) {
		s := open(t)
		r := s.Revocations()
		must(t, "Revoke", r.Revoke(t.Context(), "user:u", at(time.Minute), at(2*time.Hour)))
		must(t, "Revoke earlier", r.Revoke(t.Context(), "user:u", at(time.Second), at(time.Hour)))
		got, err := r.Latest(t.Context(), []string{"user:u"})
		must(t, "Latest", err)
		same(t, "latest", got, at(time.Minute))
		// keep_until stayed at 2h: a sweep at 1h30 keeps the entry.
		n, err := r.DeleteExpired(t.Context(), at(90*time.Minute))
		must(t, "DeleteExpired", err)
		same(t, "swept", n, int64(0))
		must(t, "Revoke later", r.Revoke(t.Context(), "user:u", at(time.Hour), at(3*time.Hour)))
		got, err = r.Latest(t.Context(), []string{"user:u"})
		must(t, "Latest", err)
		same(t, "latest", got, at(time.Hour))
	})
	t.Run("DeleteExpired", func(t *testing.T) {
		s := open(t)
		r := s.Revocations()
		must(t, "Revoke", r.Revoke(t.Context(), "jti:old", at(0), at(time.Minute)))
		must(t, "Revoke", r.Revoke(t.Context(), "jti:new", at(0), at(time.Hour)))
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
			return s.Revocations().Revoke(t.Context(), "grant:g", at(time.Duration(i)*time.Second), at(time.Hour))
		})
		ok, _ := tally(t, errs, store.ErrConflict)
		same(t, "successful revokes", ok, concurrency)
		got, err := s.Revocations().Latest(t.Context(), []string{"grant:g"})
		must(t, "Latest", err)
		same(t, "latest", got, at(time.Duration(concurrency-1)*time.Second))
	})
}
