package dpop_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/dpop"
)

// TestNonces: a nonce is good in its window and the next (RFC 9449 §8: the
// server decides how long), on any replica with the same keys, and after the
// keys rotate; not before it was issued, not later, not with other keys, and
// not when altered.
func TestNonces(t *testing.T) {
	k1, k2 := []byte("first key of thirty-two bytes...."), []byte("second key of thirty-two bytes...")
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	a := &dpop.Nonces{Keys: [][]byte{k1}}
	n := a.Issue(start)
	replica := &dpop.Nonces{Keys: [][]byte{k1}}
	rotated := &dpop.Nonces{Keys: [][]byte{k2, k1}}
	for _, tc := range []struct {
		name string
		ns   *dpop.Nonces
		at   time.Time
		ok   bool
	}{
		{"same window", a, start.Add(time.Minute), true},
		{"another replica", replica, start, true},
		{"next window", a, start.Add(dpop.DefaultNoncePeriod), true},
		{"after rotation", rotated, start, true},
		{"two windows later", a, start.Add(2 * dpop.DefaultNoncePeriod), false},
		{"before it was issued", a, start.Add(-dpop.DefaultNoncePeriod), false},
		{"other keys", &dpop.Nonces{Keys: [][]byte{k2}}, start, false},
	} {
		if got := tc.ns.Valid(n, tc.at); got != tc.ok {
			t.Errorf("%s: Valid = %v", tc.name, got)
		}
	}
	if rotated.Issue(start) == n {
		t.Error("a rotated key issues the same nonce")
	}
	for _, bad := range []string{"", "x", n[:len(n)-1] + "A", "A" + n[1:], n + "A"} {
		if bad != n && a.Valid(bad, start) {
			t.Errorf("altered nonce %q accepted", bad)
		}
	}
}
