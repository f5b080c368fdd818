package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

func newDevice(code, user string) store.DeviceAuthorization {
	return store.DeviceAuthorization{
		DeviceCodeHash: []byte(code),
		UserCodeHash:   []byte(user),
		ClientID:       "cli",
		Scopes:         []string{"openid", "notes.read"},
		Audience:       "https://api.example.com",
		Status:         store.DevicePending,
		Interval:       5,
		CreatedAt:      at(0),
		ExpiresAt:      at(10 * time.Minute),
	}
}

func approval() store.DeviceDecision {
	return store.DeviceDecision{Status: store.DeviceApproved, UserID: "u1", SessionID: "s1", GrantedScopes: []string{"openid"},
		GrantID: "g1", AuthTime: at(-time.Minute), ACR: "urn:example:loa:1", AMR: []string{"pwd"}}
}

func testDeviceAuthorizations(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		s := open(t)
		d := newDevice("d1", "u1")
		must(t, "Create", s.DeviceAuthorizations().Create(t.Context(), d))
		got, err := s.DeviceAuthorizations().Get(t.Context(), d.DeviceCodeHash)
		must(t, "Get", err)
		same(t, "device authorization", got, d)
		got, err = s.DeviceAuthorizations().GetPending(t.Context(), d.UserCodeHash, at(time.Minute))
		must(t, "GetPending", err)
		same(t, "by user code", got, d)
		_, err = s.DeviceAuthorizations().GetPending(t.Context(), d.UserCodeHash, at(10*time.Minute))
		wantErr(t, "GetPending expired", err, store.ErrNotFound)
		_, err = s.DeviceAuthorizations().Get(t.Context(), []byte("nope"))
		wantErr(t, "Get unknown", err, store.ErrNotFound)
	})
	t.Run("UserCodeTaken", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.DeviceAuthorizations().Create(t.Context(), newDevice("d1", "u1")))
		wantErr(t, "Create same user code", s.DeviceAuthorizations().Create(t.Context(), newDevice("d2", "u1")), store.ErrConflict)
	})
	t.Run("DecideOnce", func(t *testing.T) {
		s := open(t)
		d := newDevice("d1", "u1")
		must(t, "Create", s.DeviceAuthorizations().Create(t.Context(), d))
		errs := race(concurrency, func(i int) error {
			dec := approval()
			if i%2 == 1 {
				dec = store.DeviceDecision{Status: store.DeviceDenied, UserID: "u2"}
			}
			return s.DeviceAuthorizations().Decide(t.Context(), d.DeviceCodeHash, dec, at(time.Minute))
		})
		if ok, _ := tally(t, errs, store.ErrNotFound); ok != 1 {
			t.Fatalf("%d decisions recorded, want 1", ok)
		}
		got, err := s.DeviceAuthorizations().Get(t.Context(), d.DeviceCodeHash)
		must(t, "Get", err)
		if got.Status == store.DevicePending || got.DecidedAt.IsZero() {
			t.Fatalf("after decide: %+v", got)
		}
		_, err = s.DeviceAuthorizations().GetPending(t.Context(), d.UserCodeHash, at(time.Minute))
		wantErr(t, "GetPending decided", err, store.ErrNotFound)
	})
	t.Run("DecideExpired", func(t *testing.T) {
		s := open(t)
		d := newDevice("d1", "u1")
		must(t, "Create", s.DeviceAuthorizations().Create(t.Context(), d))
		wantErr(t, "Decide expired", s.DeviceAuthorizations().Decide(t.Context(), d.DeviceCodeHash, approval(), at(11*time.Minute)),
			store.ErrNotFound)
	})
	t.Run("Polled", func(t *testing.T) {
		s := open(t)
		d := newDevice("d1", "u1")
		must(t, "Create", s.DeviceAuthorizations().Create(t.Context(), d))
		must(t, "Polled", s.DeviceAuthorizations().Polled(t.Context(), d.DeviceCodeHash, at(time.Second), 10))
		got, err := s.DeviceAuthorizations().Get(t.Context(), d.DeviceCodeHash)
		must(t, "Get", err)
		d.LastPollAt, d.Interval = at(time.Second), 10
		same(t, "polled", got, d)
	})
	t.Run("RedeemOnce", func(t *testing.T) {
		s := open(t)
		d := newDevice("d1", "u1")
		must(t, "Create", s.DeviceAuthorizations().Create(t.Context(), d))
		_, err := s.DeviceAuthorizations().Redeem(t.Context(), d.DeviceCodeHash, at(time.Second))
		wantErr(t, "Redeem pending", err, store.ErrNotFound)
		must(t, "Decide", s.DeviceAuthorizations().Decide(t.Context(), d.DeviceCodeHash, approval(), at(time.Minute)))
		errs := race(concurrency, func(int) error {
			_, err := s.DeviceAuthorizations().Redeem(t.Context(), d.DeviceCodeHash, at(2*time.Minute))
			return err
		})
		if ok, _ := tally(t, errs, store.ErrAlreadyUsed); ok != 1 {
			t.Fatalf("%d redemptions, want 1", ok)
		}
		got, err := s.DeviceAuthorizations().Redeem(t.Context(), d.DeviceCodeHash, at(3*time.Minute))
		wantErr(t, "Redeem again", err, store.ErrAlreadyUsed)
		a := approval()
		if got.Status != store.DeviceRedeemed || got.UserID != a.UserID || got.GrantID != a.GrantID || !got.AuthTime.Equal(a.AuthTime) {
			t.Fatalf("redeemed: %+v", got)
		}
	})
	t.Run("RedeemExpiredOrDenied", func(t *testing.T) {
		s := open(t)
		d := newDevice("d1", "u1")
		must(t, "Create", s.DeviceAuthorizations().Create(t.Context(), d))
		must(t, "Decide", s.DeviceAuthorizations().Decide(t.Context(), d.DeviceCodeHash, approval(), at(time.Minute)))
		_, err := s.DeviceAuthorizations().Redeem(t.Context(), d.DeviceCodeHash, at(10*time.Minute))
		wantErr(t, "Redeem expired", err, store.ErrNotFound)
		d2 := newDevice("d2", "u2")
		must(t, "Create", s.DeviceAuthorizations().Create(t.Context(), d2))
		must(t, "Decide", s.DeviceAuthorizations().Decide(t.Context(), d2.DeviceCodeHash,
			store.DeviceDecision{Status: store.DeviceDenied}, at(time.Minute)))
		_, err = s.DeviceAuthorizations().Redeem(t.Context(), d2.DeviceCodeHash, at(2*time.Minute))
		wantErr(t, "Redeem denied", err, store.ErrNotFound)
	})
	t.Run("DeleteExpired", func(t *testing.T) {
		s := open(t)
		old, live := newDevice("d1", "u1"), newDevice("d2", "u2")
		live.ExpiresAt = at(time.Hour)
		must(t, "Create", s.DeviceAuthorizations().Create(t.Context(), old))
		must(t, "Create", s.DeviceAuthorizations().Create(t.Context(), live))
		n, err := s.DeviceAuthorizations().DeleteExpired(t.Context(), at(30*time.Minute))
		must(t, "DeleteExpired", err)
		if n != 1 {
			t.Fatalf("deleted %d, want 1", n)
		}
		_, err = s.DeviceAuthorizations().Get(t.Context(), old.DeviceCodeHash)
		wantErr(t, "Get swept", err, store.ErrNotFound)
		_, err = s.DeviceAuthorizations().Get(t.Context(), live.DeviceCodeHash)
		must(t, "Get live", err)
	})
}
