package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

func newCode(hash string) store.AuthCode {
	return store.AuthCode{
		CodeHash:      []byte(hash),
		GrantID:       "g1",
		ClientID:      "c1",
		UserID:        "u1",
		SessionID:     "s1",
		RedirectURI:   "https://app.example.com/cb",
		Scopes:        []string{"openid", "profile"},
		Audience:      "https://api.example.com",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Nonce:         "n-0S6_WzA2Mj",
		AuthTime:      at(0),
		ACR:           "urn:example:loa:1",
		AMR:           []string{"hwk"},
		DelegationID:  "d1",
		DPoPJKT:       "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", // RFC 9449 §10
		CreatedAt:     at(0),
		ExpiresAt:     at(time.Minute),
	}
}

func testCodes(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateRedeem", func(t *testing.T) {
		s := open(t)
		c := newCode("h1")
		must(t, "Create", s.Codes().Create(t.Context(), c))
		got, err := s.Codes().Redeem(t.Context(), c.CodeHash, at(time.Second))
		must(t, "Redeem", err)
		c.UsedAt = at(time.Second)
		same(t, "code", got, c)
	})
	t.Run("CreateTaken", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.Codes().Create(t.Context(), newCode("h1")))
		wantErr(t, "Create again", s.Codes().Create(t.Context(), newCode("h1")), store.ErrConflict)
	})
	t.Run("RedeemTwice", func(t *testing.T) {
		s := open(t)
		c := newCode("h1")
		must(t, "Create", s.Codes().Create(t.Context(), c))
		_, err := s.Codes().Redeem(t.Context(), c.CodeHash, at(time.Second))
		must(t, "Redeem", err)
		// The replay returns the code so the caller can revoke what it issued, even
		// once the code has expired.
		for _, now := range []time.Time{at(2 * time.Second), at(time.Hour)} {
			got, err := s.Codes().Redeem(t.Context(), c.CodeHash, now)
			wantErr(t, "Redeem again", err, store.ErrAlreadyUsed)
			c.UsedAt = at(time.Second)
			same(t, "replayed code", got, c)
		}
	})
	t.Run("RedeemMissingOrExpired", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			hash string
			now  time.Time
		}{
			{"missing", "nope", at(time.Second)},
			{"expired", "h1", at(time.Minute + time.Microsecond)},
			{"at expiry", "h1", at(time.Minute)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				must(t, "Create", s.Codes().Create(t.Context(), newCode("h1")))
				_, err := s.Codes().Redeem(t.Context(), []byte(tc.hash), tc.now)
				wantErr(t, "Redeem", err, store.ErrNotFound)
			})
		}
	})
	t.Run("RedeemConcurrent", func(t *testing.T) {
		s := open(t)
		c := newCode("h1")
		must(t, "Create", s.Codes().Create(t.Context(), c))
		errs := race(concurrency, func(int) error {
			_, err := s.Codes().Redeem(t.Context(), c.CodeHash, at(time.Second))
			return err
		})
		if ok, used := tally(t, errs, store.ErrAlreadyUsed); ok != 1 || used != concurrency-1 {
			t.Errorf("%d redemptions won and %d got ErrAlreadyUsed, want 1 and %d", ok, used, concurrency-1)
		}
	})
	t.Run("DeleteExpired", func(t *testing.T) {
		s := open(t)
		old, current := newCode("old"), newCode("current")
		current.ExpiresAt = at(time.Hour)
		must(t, "Create", s.Codes().Create(t.Context(), old))
		must(t, "Create", s.Codes().Create(t.Context(), current))
		n, err := s.Codes().DeleteExpired(t.Context(), at(time.Minute)) // old expires exactly then
		must(t, "DeleteExpired", err)
		if n != 0 {
			t.Errorf("DeleteExpired(at expiry) deleted %d, want 0", n)
		}
		n, err = s.Codes().DeleteExpired(t.Context(), at(2*time.Minute))
		must(t, "DeleteExpired", err)
		if n != 1 {
			t.Errorf("DeleteExpired deleted %d, want 1", n)
		}
		_, err = s.Codes().Redeem(t.Context(), current.CodeHash, at(2*time.Minute))
		must(t, "Redeem the unexpired code", err)
	})
}

func newRefresh(hash, family string) store.RefreshToken {
	return store.RefreshToken{
		TokenHash:    []byte(hash),
		FamilyID:     family,
		GrantID:      "g1",
		ClientID:     "c1",
		UserID:       "u1",
		SessionID:    "s1",
		Scopes:       []string{"openid", "offline_access"},
		Audience:     "https://api.example.com",
		DelegationID: "d1",
		AuthTime:     at(0),
		ACR:          "urn:example:loa:2",
		AMR:          []string{"pwd", "otp"},
		DPoPJKT:      "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", // RFC 9449 §5
		X5TS256:      "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2", // RFC 8705 §4
		CreatedAt:    at(0),
		ExpiresAt:    at(24 * time.Hour),
	}
}

func getRefresh(t *testing.T, s store.Store, hash string) store.RefreshToken {
	t.Helper()
	rt, err := s.RefreshTokens().GetByHash(t.Context(), []byte(hash))
	must(t, "GetByHash "+hash, err)
	return rt
}

func testRefreshTokens(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		s := open(t)
		rt := newRefresh("r1", "f1")
		rt.RotatedAt, rt.RevokedAt = at(time.Hour), at(2*time.Hour)
		must(t, "Create", s.RefreshTokens().Create(t.Context(), rt))
		same(t, "token", getRefresh(t, s, "r1"), rt)
	})
	t.Run("CreateTaken", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.RefreshTokens().Create(t.Context(), newRefresh("r1", "f1")))
		wantErr(t, "Create again", s.RefreshTokens().Create(t.Context(), newRefresh("r1", "f2")), store.ErrConflict)
	})
	t.Run("GetMissing", func(t *testing.T) {
		_, err := open(t).RefreshTokens().GetByHash(t.Context(), []byte("nope"))
		wantErr(t, "GetByHash", err, store.ErrNotFound)
	})
	t.Run("Rotate", func(t *testing.T) {
		s := open(t)
		old := newRefresh("r1", "f1")
		must(t, "Create", s.RefreshTokens().Create(t.Context(), old))
		next := newRefresh("r2", "some other family") // joins the old token's family and grant
		next.GrantID = "some other grant"
		next.CreatedAt = at(time.Hour)
		got, err := s.RefreshTokens().Rotate(t.Context(), old.TokenHash, next, at(time.Hour))
		must(t, "Rotate", err)
		old.RotatedAt = at(time.Hour)
		same(t, "returned old token", got, old)
		same(t, "old token", getRefresh(t, s, "r1"), old)
		next.FamilyID, next.GrantID = "f1", old.GrantID
		same(t, "next token", getRefresh(t, s, "r2"), next)
		// The chain goes on from the new token.
		_, err = s.RefreshTokens().Rotate(t.Context(), next.TokenHash, newRefresh("r3", ""), at(2*time.Hour))
		must(t, "Rotate next", err)
		if f := getRefresh(t, s, "r3").FamilyID; f != "f1" {
			t.Errorf("third token in family %q, want f1", f)
		}
	})
	t.Run("RotateReused", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.RefreshTokens().Create(t.Context(), newRefresh("r1", "f1")))
		must(t, "Create", s.RefreshTokens().Create(t.Context(), newRefresh("other", "f2")))
		_, err := s.RefreshTokens().Rotate(t.Context(), []byte("r1"), newRefresh("r2", "f1"), at(time.Hour))
		must(t, "Rotate", err)
		got, err := s.RefreshTokens().Rotate(t.Context(), []byte("r1"), newRefresh("r3", "f1"), at(2*time.Hour))
		wantErr(t, "Rotate again", err, store.ErrAlreadyUsed)
		want := newRefresh("r1", "f1")
		want.RotatedAt = at(time.Hour)
		same(t, "returned token", got, want)
		for _, h := range []string{"r1", "r2"} {
			if rt := getRefresh(t, s, h); !rt.RevokedAt.Equal(at(2 * time.Hour)) {
				t.Errorf("%s: RevokedAt %v after reuse, want %v", h, rt.RevokedAt, at(2*time.Hour))
			}
		}
		_, err = s.RefreshTokens().GetByHash(t.Context(), []byte("r3"))
		wantErr(t, "GetByHash of the refused token", err, store.ErrNotFound)
		if rt := getRefresh(t, s, "other"); !rt.RevokedAt.IsZero() {
			t.Errorf("another family was revoked")
		}
		// Presented once more, it is still reuse; the first revocation time stays.
		_, err = s.RefreshTokens().Rotate(t.Context(), []byte("r1"), newRefresh("r4", "f1"), at(3*time.Hour))
		wantErr(t, "Rotate a third time", err, store.ErrAlreadyUsed)
		if rt := getRefresh(t, s, "r2"); !rt.RevokedAt.Equal(at(2 * time.Hour)) {
			t.Errorf("RevokedAt moved to %v", rt.RevokedAt)
		}
	})
	t.Run("RotateRefused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			rt   store.RefreshToken
			hash string
		}{
			{"missing", newRefresh("r1", "f1"), "nope"},
			{"revoked", func() store.RefreshToken { rt := newRefresh("r1", "f1"); rt.RevokedAt = at(time.Minute); return rt }(), "r1"},
			{"expired", func() store.RefreshToken { rt := newRefresh("r1", "f1"); rt.ExpiresAt = at(time.Hour); return rt }(), "r1"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				must(t, "Create", s.RefreshTokens().Create(t.Context(), tc.rt))
				_, err := s.RefreshTokens().Rotate(t.Context(), []byte(tc.hash), newRefresh("r2", "f1"), at(time.Hour))
				wantErr(t, "Rotate", err, store.ErrNotFound)
				_, err = s.RefreshTokens().GetByHash(t.Context(), []byte("r2"))
				wantErr(t, "GetByHash of the refused token", err, store.ErrNotFound)
			})
		}
	})
	t.Run("RotateConcurrent", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.RefreshTokens().Create(t.Context(), newRefresh("r1", "f1")))
		errs := race(concurrency, func(i int) error {
			_, err := s.RefreshTokens().Rotate(t.Context(), []byte("r1"), newRefresh(fmt.Sprint("next", i), "f1"), at(time.Hour))
			return err
		})
		ok, used := tally(t, errs, store.ErrAlreadyUsed)
		if ok != 1 || used != concurrency-1 {
			t.Errorf("%d rotations won and %d got ErrAlreadyUsed, want 1 and %d", ok, used, concurrency-1)
		}
		for i, err := range errs {
			rt, getErr := s.RefreshTokens().GetByHash(t.Context(), []byte(fmt.Sprint("next", i)))
			switch {
			case err == nil && getErr != nil:
				t.Errorf("the winner's token is missing: %v", getErr)
			case err == nil && rt.RevokedAt.IsZero():
				t.Errorf("the winner's token is not revoked, though reuse was detected")
			case err != nil && getErr == nil:
				t.Errorf("a loser's token next%d was stored", i)
			}
		}
	})
	t.Run("Revoke", func(t *testing.T) {
		tokens := []store.RefreshToken{
			{TokenHash: []byte("1"), FamilyID: "f1", GrantID: "g1", UserID: "u1", ClientID: "c1", SessionID: "s1", DelegationID: "d1"},
			{TokenHash: []byte("2"), FamilyID: "f1", GrantID: "g1", UserID: "u1", ClientID: "c1", SessionID: "s1"},
			{TokenHash: []byte("3"), FamilyID: "f2", GrantID: "g2", UserID: "u1", ClientID: "c2", SessionID: "s2"},
			{TokenHash: []byte("4"), FamilyID: "f3", GrantID: "g3", UserID: "u2", ClientID: "c1", SessionID: "s3", DelegationID: "d1"},
			{TokenHash: []byte("5"), FamilyID: "f4", GrantID: "g4", UserID: "u2", ClientID: "c2", RevokedAt: at(time.Minute)},
		}
		for _, tc := range []struct {
			name    string
			filter  store.RefreshFilter
			revoked string // hashes revoked by the call
		}{
			{"grant", store.RefreshFilter{GrantID: "g2"}, "3"},
			{"user", store.RefreshFilter{UserID: "u2"}, "4"}, // 5 was revoked already
			{"client", store.RefreshFilter{ClientID: "c1"}, "124"},
			{"session", store.RefreshFilter{SessionIDs: []string{"s1"}}, "12"},
			{"sessions", store.RefreshFilter{SessionIDs: []string{"s1", "s3", "gone"}}, "124"},
			{"delegation", store.RefreshFilter{DelegationID: "d1"}, "14"},
			{"user and client", store.RefreshFilter{UserID: "u1", ClientID: "c1"}, "12"},
			{"no match", store.RefreshFilter{UserID: "u1", ClientID: "c1", GrantID: "g3"}, ""},
			{"issued before", store.RefreshFilter{IssuedBefore: at(3 * time.Second)}, "12"}, // token N is created at N s
			{"user issued before", store.RefreshFilter{UserID: "u2", IssuedBefore: at(5 * time.Second)}, "4"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				for _, rt := range tokens {
					rt.ExpiresAt = at(time.Hour)
					rt.CreatedAt = at(time.Duration(rt.TokenHash[0]-'0') * time.Second)
					must(t, "Create", s.RefreshTokens().Create(t.Context(), rt))
				}
				n, err := s.RefreshTokens().Revoke(t.Context(), tc.filter, at(2*time.Minute))
				must(t, "Revoke", err)
				if n != int64(len(tc.revoked)) {
					t.Errorf("Revoke revoked %d, want %d", n, len(tc.revoked))
				}
				for _, rt := range tokens {
					got := getRefresh(t, s, string(rt.TokenHash)).RevokedAt
					want := rt.RevokedAt
					if want.IsZero() && strings.IndexByte(tc.revoked, rt.TokenHash[0]) >= 0 {
						want = at(2 * time.Minute)
					}
					if !got.Equal(want) {
						t.Errorf("token %s: RevokedAt %v, want %v", rt.TokenHash, got, want)
					}
				}
			})
		}
	})
	t.Run("RevokeEmptyFilter", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.RefreshTokens().Create(t.Context(), newRefresh("r1", "f1")))
		if _, err := s.RefreshTokens().Revoke(t.Context(), store.RefreshFilter{}, at(0)); err == nil {
			t.Fatal("Revoke with an empty filter succeeded")
		}
		if rt := getRefresh(t, s, "r1"); !rt.RevokedAt.IsZero() {
			t.Error("Revoke with an empty filter revoked a token")
		}
	})
	t.Run("RevokeSessionListBounds", func(t *testing.T) {
		s := open(t)
		rt := newRefresh("r1", "f1")
		rt.SessionID = "s1"
		must(t, "Create", s.RefreshTokens().Create(t.Context(), rt))
		tooMany := append(make([]string, store.MaxListed), "s1")
		for _, ids := range [][]string{{}, tooMany} {
			if _, err := s.RefreshTokens().Revoke(t.Context(), store.RefreshFilter{SessionIDs: ids}, at(0)); err == nil {
				t.Errorf("Revoke of %d sessions succeeded, want 1 to %d", len(ids), store.MaxListed)
			}
		}
		if rt := getRefresh(t, s, "r1"); !rt.RevokedAt.IsZero() {
			t.Error("a refused session list revoked a token")
		}
	})
	t.Run("DeleteExpired", func(t *testing.T) {
		s := open(t)
		old, current := newRefresh("old", "f1"), newRefresh("current", "f1")
		current.ExpiresAt = at(48 * time.Hour)
		must(t, "Create", s.RefreshTokens().Create(t.Context(), old))
		must(t, "Create", s.RefreshTokens().Create(t.Context(), current))
		n, err := s.RefreshTokens().DeleteExpired(t.Context(), at(25*time.Hour))
		must(t, "DeleteExpired", err)
		if n != 1 {
			t.Errorf("DeleteExpired deleted %d, want 1", n)
		}
		_, err = s.RefreshTokens().GetByHash(t.Context(), []byte("old"))
		wantErr(t, "GetByHash of the expired token", err, store.ErrNotFound)
		getRefresh(t, s, "current")
	})
}
