package broker_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestDOS12_MaintenanceSweepsExpiredState: expired sessions, codes, refresh tokens and
// replay entries are deleted, so stored state stays bounded; live ones are kept.
func TestDOS12_MaintenanceSweepsExpiredState(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", nil, nil)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ts.Now = func() time.Time { return now }
	ctx := context.Background()
	st := ts.DB
	if err := st.Users().Create(ctx, store.User{ID: "u1", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []store.Session{
		{ID: "expired", TokenHash: []byte("h1"), UserID: "u1", CreatedAt: now.Add(-13 * time.Hour), LastSeenAt: now.Add(-time.Minute), ExpiresAt: now.Add(-time.Hour)},
		{ID: "idle", TokenHash: []byte("h2"), UserID: "u1", CreatedAt: now.Add(-2 * time.Hour), LastSeenAt: now.Add(-61 * time.Minute), ExpiresAt: now.Add(time.Hour)},
		{ID: "live", TokenHash: []byte("h3"), UserID: "u1", CreatedAt: now.Add(-2 * time.Hour), LastSeenAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)},
	} {
		if err := st.Sessions().Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []store.AuthCode{
		{CodeHash: []byte("c-old"), GrantID: "g1", ClientID: "c", UserID: "u1", CreatedAt: now.Add(-2 * time.Minute), ExpiresAt: now.Add(-time.Minute)},
		{CodeHash: []byte("c-new"), GrantID: "g2", ClientID: "c", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)},
	} {
		if err := st.Codes().Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []store.RefreshToken{
		{TokenHash: []byte("r-old"), FamilyID: "f1", ClientID: "c", UserID: "u1", CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
		{TokenHash: []byte("r-new"), FamilyID: "f2", ClientID: "c", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := st.RefreshTokens().Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	st.Replay().Remember(ctx, "old", now.Add(-time.Second), now.Add(-time.Minute))
	st.Replay().Remember(ctx, "new", now.Add(time.Minute), now)

	ts.MaintainOnce(ctx)

	sessions, err := st.Sessions().ListForUser(ctx, "u1")
	if err != nil || len(sessions) != 1 || sessions[0].ID != "live" {
		t.Errorf("sessions after sweep: %+v %v", sessions, err)
	}
	if _, err := st.Codes().Redeem(ctx, []byte("c-new"), now); err != nil {
		t.Errorf("live code swept: %v", err)
	}
	if _, err := st.RefreshTokens().GetByHash(ctx, []byte("r-old")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired refresh token kept: %v", err)
	}
	if _, err := st.RefreshTokens().GetByHash(ctx, []byte("r-new")); err != nil {
		t.Errorf("live refresh token swept: %v", err)
	}
	// The expired code's row is gone: creating the same hash again succeeds.
	if err := st.Codes().Create(ctx, store.AuthCode{CodeHash: []byte("c-old"), GrantID: "g3", ClientID: "c", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Errorf("expired code kept: %v", err)
	}
	if err := st.Replay().Remember(ctx, "new", now.Add(time.Minute), now); !errors.Is(err, store.ErrAlreadyUsed) {
		t.Errorf("live replay entry swept: %v", err)
	}
}

// TestWEB11_ExpiredSessionRevokesItsTokens: a session that ends by idle timeout
// (or absolute expiry) at the maintenance sweep takes its refresh and access
// tokens with it, as a logout does; a sweep that fails to revoke them (as a crash
// would) leaves the session row for the next sweep instead of orphaned tokens.
func TestWEB11_ExpiredSessionRevokesItsTokens(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lastSeen time.Duration // before now
		expires  time.Duration // after now
	}{
		{"idle", 61 * time.Minute, time.Hour},
		{"absolute expiry", time.Minute, -time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := brokertest.NewOAuthFixture(t, nil)
			ctx := context.Background()
			now := time.Now()
			brokertest.Must(t, fx.DB.Sessions().Delete(ctx, "sess-1"))
			brokertest.Must(t, fx.DB.Sessions().Create(ctx, store.Session{ID: "sess-1", TokenHash: []byte("h1"), UserID: "alice", ProviderID: "corp",
				CreatedAt: now.Add(-2 * time.Hour), LastSeenAt: now.Add(-tc.lastSeen), ExpiresAt: now.Add(tc.expires)}))
			code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
			o := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
			rt, at := o.Str("refresh_token"), o.Str("access_token")
			if o.Status != 200 || rt == "" {
				t.Fatalf("%d %s", o.Status, o.Raw)
			}
			if !fx.ActiveFor(t, "web1", rt) || !fx.Active(t, at) {
				t.Fatal("tokens inactive before the sweep")
			}

			// A sweep that cannot revoke the tokens keeps the row for the next one.
			failing := &brokertest.FailingStore{Store: fx.Store()}
			failing.FailRevoke.Store(true)
			fx.SetStore(failing)
			fx.MaintainOnce(ctx)
			fx.SetStore(failing.Store)
			if _, err := fx.DB.Sessions().GetByTokenHash(ctx, []byte("h1")); err != nil {
				t.Fatalf("session deleted although its tokens were not revoked: %v", err)
			}
			if !fx.ActiveFor(t, "web1", rt) {
				t.Fatal("the failed sweep revoked the refresh token after all")
			}

			fx.MaintainOnce(ctx)

			if _, err := fx.DB.Sessions().GetByTokenHash(ctx, []byte("h1")); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("session not swept: %v", err)
			}
			fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}).
				WantError(t, 400, "invalid_grant")
			if fx.ActiveFor(t, "web1", rt) {
				t.Error("refresh token still introspects active")
			}
			if fx.Active(t, at) {
				t.Error("access token still introspects active")
			}
		})
	}
}
