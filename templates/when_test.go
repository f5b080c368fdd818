package templates

import (
	"context"
	"testing"
	"time"

	"golang.org/x/text/language"
)

var welsh = language.MustParse("cy")

// TestWhenAgo: relative times by minute, hour and day with each language's
// plural forms (CLDR: Welsh has zero, one, two, few, many and other; "2
// ddiwrnod" takes the soft mutation), and a date beyond a month.
func TestWhenAgo(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ago    time.Duration
		en, cy string
	}{
		{-time.Minute, "just now", "ychydig eiliadau yn ôl"}, {0, "just now", "ychydig eiliadau yn ôl"}, {59 * time.Second, "just now", "ychydig eiliadau yn ôl"},
		{time.Minute, "1 minute ago", "1 munud yn ôl"}, {2 * time.Minute, "2 minutes ago", "2 funud yn ôl"},
		{5*time.Minute + 10*time.Second, "5 minutes ago", "5 munud yn ôl"},
		{time.Hour, "1 hour ago", "1 awr yn ôl"}, {3 * time.Hour, "3 hours ago", "3 awr yn ôl"},
		{25 * time.Hour, "yesterday", "ddoe"}, {2 * 24 * time.Hour, "2 days ago", "2 ddiwrnod yn ôl"},
		{3 * 24 * time.Hour, "3 days ago", "3 diwrnod yn ôl"}, {6 * 24 * time.Hour, "6 days ago", "6 diwrnod yn ôl"},
		{60 * 24 * time.Hour, "on 9 January 2026", "ar 9 Ionawr 2026"},
	} {
		w := When{At: now.Add(-tc.ago), Now: now}
		for _, l := range []struct {
			tag  language.Tag
			want string
		}{{language.English, tc.en}, {welsh, tc.cy}} {
			m := &Missing{}
			if got := w.Ago(WithLocale(context.Background(), l.tag, m)); got != l.want || len(m.Keys()) > 0 {
				t.Errorf("%v ago in %v: %q, want %q (missing %q)", tc.ago, l.tag, got, l.want, m.Keys())
			}
		}
	}
	w := When{At: now.Add(-5 * time.Minute), Now: now}
	if w.ISO() != "2026-03-10T11:55:00Z" || w.Exact(context.Background()) != "10 March 2026, 11:55 UTC" ||
		w.Exact(WithLocale(context.Background(), welsh, nil)) != "10 Mawrth 2026, 11:55 UTC" {
		t.Errorf("ISO %s, Exact %s / %s", w.ISO(), w.Exact(context.Background()), w.Exact(WithLocale(context.Background(), welsh, nil)))
	}
}
