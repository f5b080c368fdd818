package signin

import "testing"

// TestSAML36_ReturnToOnlyLocal: return_to keeps only a local path (the sign-in
// that carries it: package broker's test of the same name).
func TestSAML36_ReturnToOnlyLocal(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"/oauth2/authorize?x=1": "/oauth2/authorize?x=1", "https://evil.test/": "/account", "//evil.test": "/account",
		"/\\evil.test": "/account", "javascript:alert(1)": "/account", "/ok\r\nSet-Cookie:x": "/account",
	} {
		if got := localReturnTo(raw, "/account"); got != want {
			t.Errorf("localReturnTo(%q) = %q, want %q", raw, got, want)
		}
	}
}
