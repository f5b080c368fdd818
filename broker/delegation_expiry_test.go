package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestDelegationExpiryIsAnEvent: the maintenance pass ends a delegation past
// its expiry (issue 11: expiry is audited and its refresh tokens revoked at
// once): reason expired, status still "expired", the refresh token under it
// revoked, one delegation.expired event by gatehouse. A live delegation is left
// alone.
func TestDelegationExpiryIsAnEvent(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", nil, nil)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ts.Now = func() time.Time { return now }
	ctx := context.Background()
	for _, d := range []store.Delegation{
		{ID: "gone", GrantorID: "ann", GranteeUserID: "bob", Audience: "https://care.test", Scopes: []string{"plans.read"},
			CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Minute)},
		{ID: "live", GrantorID: "ann", GranteeUserID: "bob", Audience: "https://care.test", Scopes: []string{"plans.read"},
			CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour)},
	} {
		brokertest.Must(t, ts.DB.Delegations().Create(ctx, d))
		brokertest.Must(t, ts.DB.RefreshTokens().Create(ctx, store.RefreshToken{TokenHash: []byte("rt-" + d.ID),
			FamilyID: "f-" + d.ID, ClientID: "ward", UserID: "ann", DelegationID: d.ID, CreatedAt: d.CreatedAt,
			ExpiresAt: now.Add(time.Hour)}))
	}

	ts.MaintainOnce(ctx)

	for id, ended := range map[string]bool{"gone": true, "live": false} {
		d, err := ts.DB.Delegations().Get(ctx, id)
		brokertest.Must(t, err)
		rt, err := ts.DB.RefreshTokens().GetByHash(ctx, []byte("rt-"+id))
		brokertest.Must(t, err)
		if ended != (d.EndReason == store.DelegationEndExpired) || ended != !rt.RevokedAt.IsZero() {
			t.Errorf("%s: ended %q at %v, refresh token revoked at %v", id, d.EndReason, d.RevokedAt, rt.RevokedAt)
		}
		if want := map[bool]string{true: store.DelegationExpired, false: store.DelegationActive}[ended]; d.Status(now, 0) != want {
			t.Errorf("%s: status %s, want %s", id, d.Status(now, 0), want)
		}
	}
	brokertest.Must(t, ts.AW.Flush(ctx))
	evs, err := ts.DB.Audit().List(ctx, store.AuditFilter{Action: "delegation.expired"})
	brokertest.Must(t, err)
	if len(evs) != 1 || evs[0].Target != "gone" || evs[0].Actor != "gatehouse" {
		t.Errorf("delegation.expired events %+v", evs)
	}
}
