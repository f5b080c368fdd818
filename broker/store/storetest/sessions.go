package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

func newSession(id, userID string) store.Session {
	return store.Session{
		ID:         id,
		TokenHash:  []byte("hash-of-" + id),
		UserID:     userID,
		ProviderID: "google",
		AuthTime:   at(0),
		AMR:        []string{"pwd", "otp"},
		ACR:        "urn:example:loa:2",
		IP:         "2001:db8::1",
		UserAgent:  "Mozilla/5.0",
		CreatedAt:  at(0),
		LastSeenAt: at(time.Minute),
		ExpiresAt:  at(24 * time.Hour),
		Subject:    "sub-" + userID,
		Roles:      []string{"staff", "admin"},
		// Opaque bytes: the broker seals them; the store keeps them as given.
		LogoutStateEnc: []byte{0, 1, 2, 0xff},
		LogoutKey:      "key-" + userID,
	}
}

func testSessions(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		s := open(t)
		x := newSession("s1", "u1")
		must(t, "Create", s.Sessions().Create(t.Context(), x))
		got, err := s.Sessions().GetByTokenHash(t.Context(), x.TokenHash)
		must(t, "GetByTokenHash", err)
		same(t, "session", got, x)
	})
	t.Run("CreateTaken", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			x    store.Session
		}{
			{"id", store.Session{ID: "s1", TokenHash: []byte("other")}},
			{"token hash", store.Session{ID: "s2", TokenHash: []byte("hash-of-s1")}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				must(t, "Create", s.Sessions().Create(t.Context(), newSession("s1", "u1")))
				wantErr(t, "Create", s.Sessions().Create(t.Context(), tc.x), store.ErrConflict)
			})
		}
	})
	t.Run("GetMissing", func(t *testing.T) {
		_, err := open(t).Sessions().GetByTokenHash(t.Context(), []byte("nope"))
		wantErr(t, "GetByTokenHash", err, store.ErrNotFound)
	})
	t.Run("Touch", func(t *testing.T) {
		s := open(t)
		x := newSession("s1", "u1")
		must(t, "Create", s.Sessions().Create(t.Context(), x))
		must(t, "Touch", s.Sessions().Touch(t.Context(), "s1", at(time.Hour)))
		x.LastSeenAt = at(time.Hour)
		got, err := s.Sessions().GetByTokenHash(t.Context(), x.TokenHash)
		must(t, "GetByTokenHash", err)
		same(t, "session", got, x)
		wantErr(t, "Touch missing", s.Sessions().Touch(t.Context(), "nope", at(0)), store.ErrNotFound)
	})
	t.Run("ListDelete", func(t *testing.T) {
		s := open(t)
		a, b, c := newSession("a", "u1"), newSession("b", "u1"), newSession("c", "u2")
		a.CreatedAt = at(time.Second) // listed oldest first
		for _, x := range []store.Session{a, b, c} {
			must(t, "Create", s.Sessions().Create(t.Context(), x))
		}
		got, err := s.Sessions().ListForUser(t.Context(), "u1")
		must(t, "ListForUser", err)
		same(t, "sessions", got, []store.Session{b, a})

		must(t, "Delete", s.Sessions().Delete(t.Context(), "b"))
		must(t, "Delete again", s.Sessions().Delete(t.Context(), "b")) // gone already: not an error
		_, err = s.Sessions().GetByTokenHash(t.Context(), b.TokenHash)
		wantErr(t, "GetByTokenHash after Delete", err, store.ErrNotFound)

		n, err := s.Sessions().DeleteForUser(t.Context(), "u1")
		must(t, "DeleteForUser", err)
		if n != 1 {
			t.Errorf("DeleteForUser deleted %d, want 1", n)
		}
		got, err = s.Sessions().ListForUser(t.Context(), "u1")
		must(t, "ListForUser", err)
		same(t, "sessions", got, nil)
		if _, err := s.Sessions().GetByTokenHash(t.Context(), c.TokenHash); err != nil {
			t.Errorf("another user's session went: %v", err)
		}
	})
	t.Run("DeleteSeveral", func(t *testing.T) {
		s := open(t)
		for _, id := range []string{"a", "b", "c"} {
			must(t, "Create", s.Sessions().Create(t.Context(), newSession(id, "u1")))
		}
		must(t, "Delete", s.Sessions().Delete(t.Context(), "a", "c", "gone"))
		got, err := s.Sessions().ListForUser(t.Context(), "u1")
		must(t, "ListForUser", err)
		same(t, "sessions left", got, []store.Session{newSession("b", "u1")})
		if err := s.Sessions().Delete(t.Context()); err == nil {
			t.Error("Delete of no sessions succeeded")
		}
		if err := s.Sessions().Delete(t.Context(), append(make([]string, store.MaxListed), "b")...); err == nil {
			t.Errorf("Delete of %d sessions succeeded, want at most %d", store.MaxListed+1, store.MaxListed)
		}
		got, err = s.Sessions().ListForUser(t.Context(), "u1")
		must(t, "ListForUser", err)
		same(t, "sessions left after the refusals", got, []store.Session{newSession("b", "u1")})
	})
	t.Run("ListForIdentity", func(t *testing.T) {
		s := open(t)
		a, b, c := newSession("a", "u1"), newSession("b", "u1"), newSession("c", "u2")
		b.CreatedAt = at(-time.Second) // listed oldest first
		c.Subject = a.Subject          // same subject at another provider is another identity
		c.ProviderID = "other"
		d := newSession("d", "u3")
		d.Roles, d.LogoutStateEnc = nil, nil // empty lists and bytes read back as nil
		for _, x := range []store.Session{a, b, c, d} {
			must(t, "Create", s.Sessions().Create(t.Context(), x))
		}
		got, err := s.Sessions().ListForIdentity(t.Context(), "google", "sub-u1")
		must(t, "ListForIdentity", err)
		same(t, "sessions", got, []store.Session{b, a})
		got, err = s.Sessions().ListForIdentity(t.Context(), "google", "sub-u3")
		must(t, "ListForIdentity", err)
		same(t, "sessions", got, []store.Session{d})
		got, err = s.Sessions().ListForIdentity(t.Context(), "google", "nobody")
		must(t, "ListForIdentity", err)
		same(t, "sessions", got, nil)
	})
	t.Run("GetByID", func(t *testing.T) {
		s := open(t)
		x := newSession("s1", "u1")
		must(t, "Create", s.Sessions().Create(t.Context(), x))
		got, err := s.Sessions().Get(t.Context(), "s1")
		must(t, "Get", err)
		same(t, "session", got, x)
		_, err = s.Sessions().Get(t.Context(), "nope")
		wantErr(t, "Get missing", err, store.ErrNotFound)
	})
	t.Run("ListForProvider", func(t *testing.T) {
		s := open(t)
		a, b, c := newSession("a", "u1"), newSession("b", "u2"), newSession("c", "u1")
		b.CreatedAt = at(-time.Second) // listed oldest first
		c.ProviderID = "other"
		for _, x := range []store.Session{a, b, c} {
			must(t, "Create", s.Sessions().Create(t.Context(), x))
		}
		got, err := s.Sessions().ListForProvider(t.Context(), "google")
		must(t, "ListForProvider", err)
		same(t, "sessions", got, []store.Session{b, a})
		got, err = s.Sessions().ListForProvider(t.Context(), "nobody")
		must(t, "ListForProvider", err)
		same(t, "sessions", got, nil)
	})
	t.Run("ListForLogoutKey", func(t *testing.T) {
		s := open(t)
		a, b, c, d := newSession("a", "u1"), newSession("b", "u1"), newSession("c", "u2"), newSession("d", "u3")
		b.CreatedAt = at(-time.Second)
		c.ProviderID = "other" // the same key at another provider is another principal
		c.LogoutKey = a.LogoutKey
		d.LogoutKey = "" // no key: never listed
		for _, x := range []store.Session{a, b, c, d} {
			must(t, "Create", s.Sessions().Create(t.Context(), x))
		}
		got, err := s.Sessions().ListForLogoutKey(t.Context(), "google", "key-u1")
		must(t, "ListForLogoutKey", err)
		same(t, "sessions", got, []store.Session{b, a})
		got, err = s.Sessions().ListForLogoutKey(t.Context(), "google", "")
		must(t, "ListForLogoutKey", err)
		same(t, "sessions", got, nil)
	})
	t.Run("ListExpiredLimit", func(t *testing.T) {
		s := open(t)
		for _, id := range []string{"c", "a", "b"} {
			x := newSession(id, "u1")
			x.ExpiresAt = at(time.Hour)
			must(t, "Create", s.Sessions().Create(t.Context(), x))
		}
		got, err := s.Sessions().ListExpired(t.Context(), at(2*time.Hour), time.Time{}, 2)
		must(t, "ListExpired", err)
		// In no particular order: sorting would read every session instead of
		// the expiry indexes (issue 14).
		slices.Sort(got)
		if len(got) != 2 || got[0] == got[1] || !slices.Contains([]string{"a", "b", "c"}, got[0]) ||
			!slices.Contains([]string{"a", "b", "c"}, got[1]) {
			t.Errorf("listed IDs %v, want two of a, b, c", got)
		}
	})
	t.Run("DeleteExpired", func(t *testing.T) {
		now := at(48 * time.Hour)
		for _, tc := range []struct {
			name                string
			expiresAt, lastSeen time.Time
			idleSince           time.Time
			deleted             bool
		}{
			{"live", now.Add(time.Hour), now, now.Add(-time.Hour), false},
			{"past absolute expiry", now.Add(-time.Microsecond), now, now.Add(-time.Hour), true},
			{"expires now", now, now, now.Add(-time.Hour), false},
			{"idle", now.Add(time.Hour), now.Add(-2 * time.Hour), now.Add(-time.Hour), true},
			{"idle but no idle limit", now.Add(time.Hour), now.Add(-2 * time.Hour), time.Time{}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				x := newSession("s1", "u1")
				x.ExpiresAt, x.LastSeenAt = tc.expiresAt, tc.lastSeen
				must(t, "Create", s.Sessions().Create(t.Context(), x))
				keep := newSession("keep", "u1")
				keep.ExpiresAt, keep.LastSeenAt = now.Add(time.Hour), now
				must(t, "Create", s.Sessions().Create(t.Context(), keep))
				var want []string
				if tc.deleted {
					want = []string{"s1"}
				}
				listed, err := s.Sessions().ListExpired(t.Context(), now, tc.idleSince, 10)
				must(t, "ListExpired", err)
				same(t, "listed IDs", listed, want)
				ids, err := s.Sessions().DeleteExpired(t.Context(), now, tc.idleSince)
				must(t, "DeleteExpired", err)
				same(t, "deleted IDs", ids, want)
				_, err = s.Sessions().GetByTokenHash(t.Context(), x.TokenHash)
				if gone := err != nil; gone != tc.deleted {
					t.Errorf("session gone = %v, want %v (err %v)", gone, tc.deleted, err)
				}
			})
		}
	})
}

func testSignIns(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("RecordSessionAndLogin", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		id := newIdentity("google", "s1", "u1")
		must(t, "Link", s.Identities().Link(t.Context(), id))
		login := id
		login.Email, login.Claims, login.LastLoginAt = "new@example.com", []byte(`{"n":1}`), at(time.Hour)
		x := newSession("s1", "u1")
		evicted, err := s.SignIns().Record(t.Context(), store.SignIn{Session: x, Login: login})
		must(t, "Record", err)
		same(t, "evicted", evicted, nil)
		got, err := s.Sessions().GetByTokenHash(t.Context(), x.TokenHash)
		must(t, "GetByTokenHash", err)
		same(t, "session", got, x)
		gotID, err := s.Identities().Get(t.Context(), "google", "s1")
		must(t, "Get", err)
		same(t, "identity", gotID, login)
	})
	t.Run("RecordProfile", func(t *testing.T) {
		s := open(t)
		u := newUser("u1")
		u.Disabled = true
		must(t, "Create", s.Users().Create(t.Context(), u))
		profile := store.User{ID: "u1", Email: "New@Example.com", EmailVerified: true, Name: "New Name", UpdatedAt: at(time.Hour)}
		_, err := s.SignIns().Record(t.Context(), store.SignIn{Session: newSession("s1", "u1"), Profile: profile})
		must(t, "Record", err)
		got, err := s.Users().Get(t.Context(), "u1")
		must(t, "Get", err)
		want := u
		want.Email, want.EmailVerified, want.Name, want.UpdatedAt = profile.Email, true, profile.Name, profile.UpdatedAt
		same(t, "user after a sign-in with a new profile", got, want)
		byEmail, err := s.Users().FindByEmail(t.Context(), "new@example.com")
		must(t, "FindByEmail", err)
		same(t, "found by its new email", len(byEmail), 1)
		// A profile for a user that does not exist stores nothing.
		_, err = s.SignIns().Record(t.Context(), store.SignIn{Session: newSession("s2", "u1"), Profile: store.User{ID: "nobody"}})
		wantErr(t, "Record with an unknown profile", err, store.ErrNotFound)
		ss, err := s.Sessions().ListForUser(t.Context(), "u1")
		must(t, "ListForUser", err)
		same(t, "sessions after the refused record", len(ss), 1)
	})
	t.Run("RecordWithoutLogin", func(t *testing.T) {
		s := open(t)
		x := newSession("s1", "u1")
		_, err := s.SignIns().Record(t.Context(), store.SignIn{Session: x})
		must(t, "Record", err)
		_, err = s.Sessions().GetByTokenHash(t.Context(), x.TokenHash)
		must(t, "GetByTokenHash", err)
	})
	t.Run("RecordUnlinkedIdentity", func(t *testing.T) {
		// All or nothing: no session without its login record.
		s := open(t)
		x := newSession("s1", "u1")
		_, err := s.SignIns().Record(t.Context(), store.SignIn{Session: x, Login: newIdentity("google", "nobody", "u1")})
		wantErr(t, "Record", err, store.ErrNotFound)
		_, err = s.Sessions().GetByTokenHash(t.Context(), x.TokenHash)
		wantErr(t, "GetByTokenHash", err, store.ErrNotFound)
	})
	t.Run("RecordTakenSession", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.Sessions().Create(t.Context(), newSession("s1", "u1")))
		_, err := s.SignIns().Record(t.Context(), store.SignIn{Session: newSession("s1", "u1")})
		wantErr(t, "Record", err, store.ErrConflict)
	})
	t.Run("RecordUsedKeys", func(t *testing.T) {
		// A used key refuses the whole sign-in: no session, no login record.
		s := open(t)
		createUser(t, s, "u1")
		id := newIdentity("google", "s1", "u1")
		must(t, "Link", s.Identities().Link(t.Context(), id))
		must(t, "Remember", s.Replay().Remember(t.Context(), "assertion", at(time.Hour), at(0)))
		login := id
		login.LastLoginAt = at(time.Hour)
		x := newSession("s1", "u1")
		used := []store.ReplayKey{{Key: "flow", ExpiresAt: at(time.Hour)}, {Key: "assertion", ExpiresAt: at(time.Hour)}}
		_, err := s.SignIns().Record(t.Context(), store.SignIn{Used: used, Session: x, Login: login})
		wantErr(t, "Record", err, store.ErrAlreadyUsed)
		_, err = s.Sessions().GetByTokenHash(t.Context(), x.TokenHash)
		wantErr(t, "GetByTokenHash", err, store.ErrNotFound)
		gotID, err := s.Identities().Get(t.Context(), "google", "s1")
		must(t, "Get", err)
		same(t, "identity", gotID, id)
		must(t, "Remember the rolled-back key", s.Replay().Remember(t.Context(), "flow", at(time.Hour), at(0)))

		// Fresh keys are recorded with the session, where Replay sees them.
		used = []store.ReplayKey{{Key: "flow-2", ExpiresAt: at(time.Hour)}, {Key: "assertion-2", ExpiresAt: at(time.Hour)}}
		_, err = s.SignIns().Record(t.Context(), store.SignIn{Used: used, Session: x, Login: login})
		must(t, "Record", err)
		for _, k := range used {
			err := s.Replay().Remember(t.Context(), k.Key, at(2*time.Hour), at(time.Minute))
			wantErr(t, "Remember "+k.Key, err, store.ErrAlreadyUsed)
		}
	})
	t.Run("RecordExpiredKey", func(t *testing.T) {
		// As Replay.Remember: an expired key is taken over, at Session.CreatedAt.
		s := open(t)
		must(t, "Remember", s.Replay().Remember(t.Context(), "k", at(-time.Minute), at(-time.Hour)))
		used := []store.ReplayKey{{Key: "k", ExpiresAt: at(time.Hour)}}
		_, err := s.SignIns().Record(t.Context(), store.SignIn{Used: used, Session: newSession("s1", "u1")})
		must(t, "Record", err)
		_, err = s.SignIns().Record(t.Context(), store.SignIn{Used: used, Session: newSession("s2", "u1")})
		wantErr(t, "Record again", err, store.ErrAlreadyUsed)
	})
	t.Run("RecordKeyConcurrent", func(t *testing.T) {
		// Of concurrent sign-ins with one key, exactly one commits.
		s := open(t)
		used := []store.ReplayKey{{Key: "flow", ExpiresAt: at(time.Hour)}}
		errs := race(concurrency, func(i int) error {
			x := newSession(fmt.Sprintf("s%d", i), "u1")
			_, err := s.SignIns().Record(t.Context(), store.SignIn{Used: used, Session: x, MaxPerUser: concurrency})
			return err
		})
		if ok, usedErrs := tally(t, errs, store.ErrAlreadyUsed); ok != 1 || usedErrs != concurrency-1 {
			t.Errorf("%d sign-ins committed and %d got ErrAlreadyUsed, want 1 and %d", ok, usedErrs, concurrency-1)
		}
		if got, err := s.Sessions().ListForUser(t.Context(), "u1"); err != nil || len(got) != 1 {
			t.Errorf("sessions stored: %d (%v), want 1", len(got), err)
		}
	})
	t.Run("RecordRequiresEnabledProvider", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			setup func(t *testing.T, s store.Store)
			want  error
		}{
			{"enabled", func(t *testing.T, s store.Store) {}, nil},
			{"disabled", func(t *testing.T, s store.Store) {
				p := newProvider("google")
				p.Enabled = false
				p.Version = 1
				must(t, "Update", s.Providers().Update(t.Context(), p))
			}, store.ErrDisabled},
			{"removed", func(t *testing.T, s store.Store) {
				must(t, "Delete", s.Providers().Delete(t.Context(), "google"))
			}, store.ErrDisabled},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				must(t, "Create", s.Providers().Create(t.Context(), newProvider("google")))
				tc.setup(t, s)
				used := []store.ReplayKey{{Key: "flow", ExpiresAt: at(time.Hour)}}
				x := newSession("s1", "u1")
				_, err := s.SignIns().Record(t.Context(), store.SignIn{Used: used, Session: x, RequireEnabledProvider: true})
				if tc.want == nil {
					must(t, "Record", err)
					return
				}
				wantErr(t, "Record", err, tc.want)
				// Nothing stored: no session, and the key is not spent.
				_, err = s.Sessions().Get(t.Context(), "s1")
				wantErr(t, "Get", err, store.ErrNotFound)
				must(t, "Remember the rolled-back key", s.Replay().Remember(t.Context(), "flow", at(time.Hour), at(0)))
			})
		}
	})
	t.Run("RecordRacingProviderDisable", func(t *testing.T) {
		// Every sign-in that commits while the provider is being disabled is
		// seen by a listing made after the disable returned: the cut-off that
		// follows a disable misses none.
		s := open(t)
		must(t, "Create", s.Providers().Create(t.Context(), newProvider("google")))
		var listed []store.Session
		errs := race(concurrency+1, func(i int) error {
			if i == concurrency {
				p := newProvider("google")
				p.Enabled, p.Version = false, 1
				if err := s.Providers().Update(t.Context(), p); err != nil {
					return err
				}
				var err error
				listed, err = s.Sessions().ListForProvider(t.Context(), "google")
				return err
			}
			_, err := s.SignIns().Record(t.Context(), store.SignIn{Session: newSession(fmt.Sprintf("s%d", i), "u1"), RequireEnabledProvider: true})
			return err
		})
		tally(t, errs, store.ErrDisabled)
		stored, err := s.Sessions().ListForProvider(t.Context(), "google")
		must(t, "ListForProvider", err)
		same(t, "sessions stored against those listed after the disable", len(stored), len(listed))
	})
	t.Run("ReplayUsed", func(t *testing.T) {
		s := open(t)
		spent := func(key string, now time.Time) bool {
			t.Helper()
			ok, err := s.Replay().Used(t.Context(), key, now)
			must(t, "Used", err)
			return ok
		}
		if spent("flow", at(0)) {
			t.Error("unknown key spent")
		}
		used := []store.ReplayKey{{Key: "flow", ExpiresAt: at(time.Hour)}}
		_, err := s.SignIns().Record(t.Context(), store.SignIn{Used: used, Session: newSession("s1", "u1")})
		must(t, "Record", err)
		must(t, "Remember", s.Replay().Remember(t.Context(), "other", at(time.Hour), at(0)))
		if !spent("flow", at(time.Minute)) || !spent("other", at(time.Minute)) {
			t.Error("recorded key not spent")
		}
		if spent("flow", at(time.Hour)) {
			t.Error("expired key spent")
		}
	})
	t.Run("RecordEvictsOldest", func(t *testing.T) {
		// DOS-12: N+1 sessions for one user keep the newest N.
		const max = 3
		s := open(t)
		var ids []string
		for i := range max + 2 {
			x := newSession(fmt.Sprintf("s%d", i), "u1")
			x.CreatedAt = at(time.Duration(i) * time.Second)
			evicted, err := s.SignIns().Record(t.Context(), store.SignIn{Session: x, MaxPerUser: max})
			must(t, "Record", err)
			ids = append(ids, x.ID)
			var want []string
			if i >= max {
				want = []string{ids[i-max]}
			}
			same(t, fmt.Sprintf("evicted at session %d", i), evicted, want)
		}
		must(t, "Create", s.Sessions().Create(t.Context(), newSession("other", "u2")))
		got, err := s.Sessions().ListForUser(t.Context(), "u1")
		must(t, "ListForUser", err)
		var left []string
		for _, x := range got {
			left = append(left, x.ID)
		}
		same(t, "sessions left", left, ids[len(ids)-max:])
		if other, _ := s.Sessions().ListForUser(t.Context(), "u2"); len(other) != 1 {
			t.Errorf("another user's sessions: %d", len(other))
		}
	})
}
