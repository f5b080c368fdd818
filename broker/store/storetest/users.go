package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

func testUsers(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		s := open(t)
		u := newUser("u1")
		u.Disabled = true
		must(t, "Create", s.Users().Create(t.Context(), u))
		got, err := s.Users().Get(t.Context(), "u1")
		must(t, "Get", err)
		same(t, "user", got, u)
	})
	t.Run("CreateTakenID", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		wantErr(t, "Create", s.Users().Create(t.Context(), newUser("u1")), store.ErrConflict)
	})
	t.Run("GetMissing", func(t *testing.T) {
		_, err := open(t).Users().Get(t.Context(), "nobody")
		wantErr(t, "Get", err, store.ErrNotFound)
	})
	t.Run("Update", func(t *testing.T) {
		s := open(t)
		u := createUser(t, s, "u1")
		u.Email, u.EmailVerified, u.Name, u.Disabled = "new@example.com", false, "New", true
		u.UpdatedAt = at(time.Hour)
		changed := u
		changed.CreatedAt = at(-time.Hour) // Update keeps CreatedAt
		must(t, "Update", s.Users().Update(t.Context(), changed))
		got, err := s.Users().Get(t.Context(), "u1")
		must(t, "Get", err)
		same(t, "user", got, u)
	})
	t.Run("UpdateMissing", func(t *testing.T) {
		wantErr(t, "Update", open(t).Users().Update(t.Context(), newUser("nobody")), store.ErrNotFound)
	})
	t.Run("List", func(t *testing.T) {
		s := open(t)
		if got, err := s.Users().List(t.Context()); err != nil || got != nil {
			t.Fatalf("List of none: %v, %v", got, err)
		}
		a, b := newUser("a"), newUser("b")
		b.CreatedAt, b.Disabled = at(-time.Second), true // listed oldest first
		for _, u := range []store.User{a, b} {
			must(t, "Create", s.Users().Create(t.Context(), u))
		}
		got, err := s.Users().List(t.Context())
		must(t, "List", err)
		same(t, "users", got, []store.User{b, a})
	})
	t.Run("FindByEmail", func(t *testing.T) {
		s := open(t)
		for _, u := range []store.User{
			{ID: "a", Email: "Ann@Example.com", EmailVerified: true, CreatedAt: at(1 * time.Second)},
			{ID: "b", Email: "ann@example.COM.", EmailVerified: true, CreatedAt: at(2 * time.Second)},
			{ID: "c", Email: " ann@example.com", EmailVerified: false, CreatedAt: at(3 * time.Second)},
			{ID: "d", Email: "bob@example.com", EmailVerified: true, CreatedAt: at(4 * time.Second)},
			{ID: "e", Email: "ÉVA@example.com", EmailVerified: true, CreatedAt: at(5 * time.Second)},
			{ID: "f", Email: "zoe@Bücher.example", CreatedAt: at(6 * time.Second)},
		} {
			must(t, "Create", s.Users().Create(t.Context(), u))
		}
		for _, tc := range []struct {
			email string
			want  []string
		}{
			// One canonical form (emailaddr.Canonical), verified or not, oldest first.
			{"ann@example.com", []string{"a", "b", "c"}},
			{"ANN@EXAMPLE.COM", []string{"a", "b", "c"}},
			{"éva@example.com", []string{"e"}},
			{"bob@example.com", []string{"d"}},
			{"zoe@xn--bcher-kva.example", []string{"f"}},
			{"carol@example.com", nil},
			{"", nil},
		} {
			got, err := s.Users().FindByEmail(t.Context(), tc.email)
			must(t, "FindByEmail", err)
			var ids []string
			for _, u := range got {
				ids = append(ids, u.ID)
			}
			same(t, "FindByEmail("+tc.email+")", ids, tc.want)
		}
	})
	t.Run("Search", func(t *testing.T) {
		s := open(t)
		for _, u := range []store.User{
			{ID: "a", Email: "Ann@Example.com", Name: "Ann Lee"},
			{ID: "b", Email: "ann@example.com", Name: "Annie"},
			{ID: "c", Email: "bob@example.com", Name: "Bob Annan"},
			{ID: "d", Email: "carol@example.com", Name: "Carol"},
			{ID: "e", Email: "dave@x.example", Name: "100% Dave_x"},
			{ID: "f", Email: "zed@example.com", Name: "1000 Davey"},
		} {
			must(t, "Create", s.Users().Create(t.Context(), u))
		}
		ids := func(q store.UserSearch) []string {
			t.Helper()
			got, err := s.Users().Search(t.Context(), q)
			must(t, "Search", err)
			var out []string
			for _, u := range got {
				out = append(out, u.ID)
			}
			return out
		}
		for _, tc := range []struct {
			query string
			want  []string
		}{
			// An email prefix (canonical form) or a part of the name, any case;
			// by canonical email, then ID.
			{"ann", []string{"a", "b", "c"}},
			{"ANN@EXAMPLE.COM", []string{"a", "b"}},
			{"example.com", nil}, // not a prefix of an email, nor in a name
			{"annan", []string{"c"}},
			{"CAROL", []string{"d"}},
			// LIKE's wildcards are matched as themselves.
			{"0%", []string{"e"}},
			{"e_x", []string{"e"}},
			{"_", []string{"e"}},
			{"nobody", nil},
			{"", []string{"a", "b", "c", "d", "e", "f"}},
		} {
			same(t, "Search("+tc.query+")", ids(store.UserSearch{Query: tc.query}), tc.want)
		}
		// Pages follow one another without a user twice or skipped, also
		// between two users of one email.
		var all []string
		var after store.UserCursor
		for range 4 {
			page, err := s.Users().Search(t.Context(), store.UserSearch{After: after, Limit: 2})
			must(t, "Search page", err)
			if len(page) == 0 {
				break
			}
			for _, u := range page {
				all = append(all, u.ID)
			}
			after = page[len(page)-1].Cursor()
		}
		same(t, "pages", all, []string{"a", "b", "c", "d", "e", "f"})
		if got := ids(store.UserSearch{Query: "ann", Limit: 1}); len(got) != 1 {
			t.Errorf("Limit 1: %v", got)
		}
	})
}

func newIdentity(providerID, subject, userID string) store.Identity {
	return store.Identity{
		ProviderID:    providerID,
		Subject:       subject,
		UserID:        userID,
		Email:         subject + "@example.com",
		EmailVerified: true,
		Claims:        []byte(`{"sub":"` + subject + `"}`),
		LinkedAt:      at(0),
		LastLoginAt:   at(time.Second),
	}
}

func testIdentities(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("LinkGet", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		id := newIdentity("google", "s1", "u1")
		must(t, "Link", s.Identities().Link(t.Context(), id))
		got, err := s.Identities().Get(t.Context(), "google", "s1")
		must(t, "Get", err)
		same(t, "identity", got, id)
	})
	t.Run("LinkTaken", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("google", "s1", "u1")))
		err := s.Identities().Link(t.Context(), newIdentity("google", "s1", "u2"))
		wantErr(t, "Link again", err, store.ErrConflict)
	})
	t.Run("LinkUnknownUser", func(t *testing.T) {
		err := open(t).Identities().Link(t.Context(), newIdentity("google", "s1", "nobody"))
		wantErr(t, "Link", err, store.ErrNotFound)
	})
	t.Run("UserOf", func(t *testing.T) {
		s := open(t)
		u := createUser(t, s, "u1")
		createUser(t, s, "u2")
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("google", "s1", "u1")))
		got, err := s.Identities().UserOf(t.Context(), "google", "s1")
		must(t, "UserOf", err)
		same(t, "user", got, u)
		_, err = s.Identities().UserOf(t.Context(), "google", "u2")
		wantErr(t, "UserOf unlinked", err, store.ErrNotFound)
	})
	t.Run("OwnerOf", func(t *testing.T) {
		s := open(t)
		u := createUser(t, s, "u1")
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("google", "s1", "u1")))
		id, disabled, err := s.Identities().OwnerOf(t.Context(), "google", "s1")
		must(t, "OwnerOf", err)
		if id != u.ID || disabled {
			t.Fatalf("OwnerOf = %q, %v; want %q, false", id, disabled, u.ID)
		}
		u.Disabled = true
		must(t, "Update", s.Users().Update(t.Context(), u))
		if _, disabled, err = s.Identities().OwnerOf(t.Context(), "google", "s1"); err != nil || !disabled {
			t.Fatalf("OwnerOf after disabling = %v, %v; want disabled", disabled, err)
		}
		_, _, err = s.Identities().OwnerOf(t.Context(), "google", "s2")
		wantErr(t, "OwnerOf unlinked", err, store.ErrNotFound)
	})
	t.Run("GetMissing", func(t *testing.T) {
		_, err := open(t).Identities().Get(t.Context(), "google", "s1")
		wantErr(t, "Get", err, store.ErrNotFound)
	})
	t.Run("ListForUser", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		a, b := newIdentity("saml", "x", "u1"), newIdentity("google", "y", "u1")
		for _, id := range []store.Identity{a, b, newIdentity("google", "z", "u2")} {
			must(t, "Link", s.Identities().Link(t.Context(), id))
		}
		got, err := s.Identities().ListForUser(t.Context(), "u1")
		must(t, "ListForUser", err)
		same(t, "identities", got, []store.Identity{b, a})
		got, err = s.Identities().ListForUser(t.Context(), "nobody")
		must(t, "ListForUser", err)
		same(t, "identities", got, nil)
	})
	t.Run("RecordLogin", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		id := newIdentity("google", "s1", "u1")
		must(t, "Link", s.Identities().Link(t.Context(), id))
		login := id
		login.Email, login.EmailVerified, login.Claims = "new@example.com", false, []byte(`{"new":true}`)
		login.LastLoginAt = at(time.Hour)
		login.UserID, login.LinkedAt = "u2", at(time.Hour) // not changed by RecordLogin
		must(t, "RecordLogin", s.Identities().RecordLogin(t.Context(), login))
		want := login
		want.UserID, want.LinkedAt = id.UserID, id.LinkedAt
		got, err := s.Identities().Get(t.Context(), "google", "s1")
		must(t, "Get", err)
		same(t, "identity", got, want)
	})
	t.Run("CountForProvider", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("google", "s1", "u1")))
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("google", "s2", "u2")))
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("okta", "s1", "u1")))
		for provider, want := range map[string]int{"google": 2, "okta": 1, "none": 0} {
			n, err := s.Identities().CountForProvider(t.Context(), provider)
			must(t, "CountForProvider", err)
			same(t, "CountForProvider("+provider+")", n, want)
		}
	})
	t.Run("LinkNewUser", func(t *testing.T) {
		s := open(t)
		u := newUser("u1")
		id := newIdentity("google", "s1", "ignored")
		must(t, "LinkNewUser", s.Identities().LinkNewUser(t.Context(), u, id))
		gotU, err := s.Users().Get(t.Context(), "u1")
		must(t, "Users.Get", err)
		same(t, "user", gotU, u)
		got, err := s.Identities().Get(t.Context(), "google", "s1")
		must(t, "Get", err)
		id.UserID = "u1"
		same(t, "identity", got, id)
	})
	t.Run("LinkNewUserTaken", func(t *testing.T) {
		// The loser of two concurrent first sign-ins: nothing of it is stored.
		s := open(t)
		must(t, "LinkNewUser", s.Identities().LinkNewUser(t.Context(), newUser("u1"), newIdentity("google", "s1", "u1")))
		err := s.Identities().LinkNewUser(t.Context(), newUser("u2"), newIdentity("google", "s1", "u2"))
		wantErr(t, "LinkNewUser again", err, store.ErrConflict)
		_, err = s.Users().Get(t.Context(), "u2")
		wantErr(t, "Users.Get of the loser", err, store.ErrNotFound)
		got, err := s.Identities().Get(t.Context(), "google", "s1")
		must(t, "Get", err)
		if got.UserID != "u1" {
			t.Errorf("identity linked to %q, want u1", got.UserID)
		}
	})
	t.Run("LinkNewUserTakenUserID", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		err := s.Identities().LinkNewUser(t.Context(), newUser("u1"), newIdentity("google", "s1", "u1"))
		wantErr(t, "LinkNewUser", err, store.ErrConflict)
		_, err = s.Identities().Get(t.Context(), "google", "s1")
		wantErr(t, "Get", err, store.ErrNotFound)
	})
	t.Run("RecordLoginMissing", func(t *testing.T) {
		err := open(t).Identities().RecordLogin(t.Context(), newIdentity("google", "s1", "u1"))
		wantErr(t, "RecordLogin", err, store.ErrNotFound)
	})
	t.Run("Unlink", func(t *testing.T) {
		for _, tc := range []struct {
			name                    string
			user, provider, subject string
			want                    error
			left                    int // identities u1 keeps
		}{
			{"one of two", "u1", "google", "a", nil, 1},
			{"other user's identity", "u2", "google", "a", store.ErrNotFound, 2},
			{"not linked", "u1", "google", "zzz", store.ErrNotFound, 2},
			{"unknown user", "nobody", "google", "a", store.ErrNotFound, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				createUser(t, s, "u1")
				createUser(t, s, "u2")
				for _, id := range []store.Identity{newIdentity("google", "a", "u1"), newIdentity("saml", "b", "u1"), newIdentity("saml", "c", "u2")} {
					must(t, "Link", s.Identities().Link(t.Context(), id))
				}
				wantErr(t, "Unlink", s.Identities().Unlink(t.Context(), tc.user, tc.provider, tc.subject), tc.want)
				left, err := s.Identities().ListForUser(t.Context(), "u1")
				must(t, "ListForUser", err)
				if len(left) != tc.left {
					t.Errorf("u1 has %d identities, want %d", len(left), tc.left)
				}
			})
		}
	})
	t.Run("UnlinkLast", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("google", "a", "u1")))
		wantErr(t, "Unlink", s.Identities().Unlink(t.Context(), "u1", "google", "a"), store.ErrLastIdentity)
		_, err := s.Identities().Get(t.Context(), "google", "a")
		must(t, "Get after refused unlink", err)
	})
	t.Run("UnlinkConcurrent", func(t *testing.T) {
		// Unlinking both of two identities at once must leave one.
		s := open(t)
		createUser(t, s, "u1")
		ids := []store.Identity{newIdentity("google", "a", "u1"), newIdentity("saml", "b", "u1")}
		for _, id := range ids {
			must(t, "Link", s.Identities().Link(t.Context(), id))
		}
		errs := race(len(ids), func(i int) error {
			return s.Identities().Unlink(t.Context(), "u1", ids[i].ProviderID, ids[i].Subject)
		})
		if ok, last := tally(t, errs, store.ErrLastIdentity); ok != 1 || last != 1 {
			t.Errorf("%d unlinks succeeded and %d got ErrLastIdentity, want 1 and 1", ok, last)
		}
		left, err := s.Identities().ListForUser(t.Context(), "u1")
		must(t, "ListForUser", err)
		if len(left) != 1 {
			t.Errorf("u1 has %d identities, want 1", len(left))
		}
	})
}
