package store

import (
	"testing"
	"time"
)

func TestDelegationStatus(t *testing.T) {
	now := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	const soon = 24 * time.Hour
	for _, tc := range []struct {
		name string
		d    Delegation
		want string
	}{
		{"active", Delegation{ExpiresAt: now.Add(48 * time.Hour)}, DelegationActive},
		{"expiring soon", Delegation{ExpiresAt: now.Add(soon)}, DelegationExpiringSoon},
		{"expired at ExpiresAt", Delegation{ExpiresAt: now}, DelegationExpired},
		{"revoked", Delegation{ExpiresAt: now.Add(48 * time.Hour), RevokedAt: now, EndReason: DelegationEndRevoked}, DelegationRevoked},
		{"declined", Delegation{ExpiresAt: now.Add(48 * time.Hour), RevokedAt: now, EndReason: DelegationEndDeclined}, DelegationDeclined},
		{"ended otherwise reads revoked", Delegation{ExpiresAt: now.Add(48 * time.Hour), RevokedAt: now, EndReason: DelegationEndEntitlementLost}, DelegationRevoked},
		{"ended after expiry reads revoked", Delegation{ExpiresAt: now.Add(-time.Hour), RevokedAt: now, EndReason: DelegationEndGrantorDisabled}, DelegationRevoked},
	} {
		if got := tc.d.Status(now, soon); got != tc.want {
			t.Errorf("%s: Status = %q, want %q", tc.name, got, tc.want)
		}
	}
}
