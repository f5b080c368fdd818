package oauth

import (
	"strings"
	"testing"
)

// TestUserCodeShape: RFC 8628 §6.1: user codes are 8 characters of the 20
// consonants, every one of them drawn, shown as XXXX-XXXX; what a person types
// is read regardless of case, dashes and spaces, and nothing else is a code.
func TestUserCodeShape(t *testing.T) {
	seen := map[rune]int{}
	codes := map[string]bool{}
	for range 2000 {
		c := newUserCode()
		if len(c) != userCodeLen || strings.Trim(c, userCodeAlphabet) != "" {
			t.Fatalf("user code %q", c)
		}
		for _, r := range c {
			seen[r]++
		}
		codes[c] = true
	}
	if len(seen) != len(userCodeAlphabet) || len(codes) < 1990 {
		t.Errorf("%d letters used, %d distinct codes of 2000", len(seen), len(codes))
	}
	for in, want := range map[string]string{"WDJB-MJHT": "WDJBMJHT", "wdjb mjht": "WDJBMJHT", " wdjbmjht ": "WDJBMJHT", "Wd-Jb-Mj-Ht": "WDJBMJHT"} {
		if got, ok := normalizeUserCode(in); !ok || got != want {
			t.Errorf("normalizeUserCode(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "WDJB-MJH", "WDJB-MJHTX", "WDJA-MJHT", "WDJB-MJH1", "ＷDJB-MJHT", strings.Repeat("B", 40)} {
		if got, ok := normalizeUserCode(in); ok {
			t.Errorf("normalizeUserCode(%q) = %q, want refusal", in, got)
		}
	}
	if formatUserCode("WDJBMJHT") != "WDJB-MJHT" {
		t.Error(formatUserCode("WDJBMJHT"))
	}
}
