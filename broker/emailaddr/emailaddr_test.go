package emailaddr

import "testing"

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice@example.com", "alice@example.com"},
		{"  Alice@Example.COM ", "alice@example.com"},
		{"ALICE@EXAMPLE.COM.", "alice@example.com"},
		{"bob@Bücher.example", "bob@xn--bcher-kva.example"},
		{"bob@xn--bcher-kva.example", "bob@xn--bcher-kva.example"},
		// NFD (u + combining diaeresis) and NFC spell the same domain.
		{"bob@Bu\u0308cher.example", "bob@xn--bcher-kva.example"},
		{"not-an-address", "not-an-address"},
		{"@example.com", "@example.com"},
		{"", ""},
	} {
		if got := Canonical(tc.in); got != tc.want {
			t.Errorf("Canonical(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDomain(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice@Example.com", "example.com"},
		{"a@b@Example.com", "example.com"},
		{"nodomain@", ""},
		{"plain", ""},
	} {
		if got := Domain(tc.in); got != tc.want {
			t.Errorf("Domain(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
