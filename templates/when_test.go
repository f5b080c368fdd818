package templates

import (
	"testing"
	"time"
)

// TestWhenAgo: relative times by minute, hour and day, and a date beyond a month.
func TestWhenAgo(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{-time.Minute, "just now"}, {0, "just now"}, {59 * time.Second, "just now"},
		{time.Minute, "1 minute ago"}, {5*time.Minute + 10*time.Second, "5 minutes ago"},
		{time.Hour, "1 hour ago"}, {3 * time.Hour, "3 hours ago"},
		{25 * time.Hour, "yesterday"}, {3 * 24 * time.Hour, "3 days ago"},
		{60 * 24 * time.Hour, "on 9 January 2026"},
	} {
		w := When{At: now.Add(-tc.ago), Now: now}
		if got := w.Ago(); got != tc.want {
			t.Errorf("%v ago: %q, want %q", tc.ago, got, tc.want)
		}
	}
	if w := (When{At: now.Add(-5 * time.Minute), Now: now}); w.ISO() != "2026-03-10T11:55:00Z" || w.Exact() != "10 March 2026, 11:55 UTC" {
		t.Errorf("ISO %s, Exact %s", w.ISO(), w.Exact())
	}
}
