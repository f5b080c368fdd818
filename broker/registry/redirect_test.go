package registry

import (
	"strings"
	"testing"
)

func TestMatchRedirectURI(t *testing.T) {
	registered := []string{"https://app1.test/cb", "https://app1.test/cb2?a=b", "http://127.0.0.1/cb", "http://[::1]:8080/native"}
	for _, tc := range []struct {
		uri                  string
		public, confidential bool // matches for a public, a confidential client
	}{
		{"https://app1.test/cb", true, true},
		{"https://app1.test/cb2?a=b", true, true},
		// AS-RED-01 variants: each is refused.
		{"https://app1.test/cb/../evil", false, false},
		{"https://app1.test/cbx", false, false},
		{"https://app1.test/cb/", false, false},
		{"https://APP1.test/cb", false, false},
		{"https://app1.test:443/cb", false, false},
		{"https://app1.test:8443/cb", false, false},
		{"http://app1.test/cb", false, false},
		{"https://app1.test@evil.test/cb", false, false},
		{"https://evil.test@app1.test/cb", false, false},
		{"https://app1.test/%2e%2e/cb", false, false},
		{"https://app1.test/cb#frag", false, false},
		{"https://аpp1.test/cb", false, false}, // Cyrillic а
		{"https://app1.test/c%2562", false, false},
		{"https://app1.test/cb?", false, false},
		// AS-RED-02: query added or changed.
		{"https://app1.test/cb?x=1", false, false},
		{"https://app1.test/cb2?a=c", false, false},
		{"https://app1.test/cb2", false, false},
		// RFC 8252 §7.3: loopback IP literal, any port, for public clients only.
		{"http://127.0.0.1/cb", true, true},
		{"http://127.0.0.1:51234/cb", true, false},
		{"http://127.0.0.1:1/cb", true, false},
		{"http://[::1]/native", true, false},
		{"http://[::1]:9/native", true, false},
		{"http://[::1]:8080/native", true, true},
		{"http://127.0.0.1:51234/cb/x", false, false},
		{"http://127.0.0.1:51234/cbx", false, false},
		{"http://127.0.0.1:/cb", false, false},
		{"http://127.0.0.1:123456/cb", false, false},
		{"http://127.0.0.1:80@evil.test/cb", false, false},
		{"http://127.0.0.1.evil.test/cb", false, false},
		{"http://localhost:51234/cb", false, false},
		{"https://127.0.0.1:51234/cb", false, false},
		{"http://127.0.0.2:51234/cb", false, false},
		{"http://[::1]:9/cb", false, false},
		{"", false, false},
	} {
		if got := MatchRedirectURI(registered, tc.uri, true); got != tc.public {
			t.Errorf("public: MatchRedirectURI(%q) = %v, want %v", tc.uri, got, tc.public)
		}
		if got := MatchRedirectURI(registered, tc.uri, false); got != tc.confidential {
			t.Errorf("confidential: MatchRedirectURI(%q) = %v, want %v", tc.uri, got, tc.confidential)
		}
	}
}

func TestASRED04_RedirectURIRegistration(t *testing.T) {
	for _, tc := range []struct {
		uri    string
		public bool
		ok     bool
	}{
		{"https://app1.test/cb", false, true},
		{"https://app1.test/cb?a=b", false, true},
		{"http://127.0.0.1/cb", true, true},
		{"http://[::1]:8080/cb", true, true},
		{"http://localhost:3000/cb", false, true},
		{"com.example.app:/oauth2redirect", true, true},
		{"com.example.app:/oauth2redirect", false, false},
		{"https://app1.test/cb#frag", false, false},
		{"https://app1.test/cb#", false, false},
		{"javascript:alert(1)", true, false},
		{"data:text/html,hi", true, false},
		{"https://*.app1.test/cb", false, false},
		{"https://app1.test/*", false, false},
		{"http://app1.test/cb", false, false},
		{"https://user@app1.test/cb", false, false},
		{"/relative/cb", false, false},
		{"https:///cb", false, false},
		{"", false, false},
	} {
		err := ValidateRedirectURI(tc.uri, tc.public)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateRedirectURI(%q, public=%v) = %v, want ok=%v", tc.uri, tc.public, err, tc.ok)
		}
	}
}

// FuzzMatchRedirectURI: the matcher never panics, an exact match always matches, a
// confidential client's match is exact, and a public client's match is either exact
// or differs from a registered loopback URI only in its port.
func FuzzMatchRedirectURI(f *testing.F) {
	for _, s := range [][2]string{
		{"https://app1.test/cb", "https://app1.test/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:5000/cb"},
		{"http://[::1]/cb", "http://[::1]:1/cb?x"},
		{"http://127.0.0.1:8/cb", "http://127.0.0.1:80@evil/cb"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, registered, requested string) {
		if !MatchRedirectURI([]string{requested}, requested, false) || !MatchRedirectURI([]string{requested}, requested, true) {
			t.Fatalf("exact %q does not match itself", requested)
		}
		if MatchRedirectURI([]string{registered}, requested, false) && registered != requested {
			t.Fatalf("%q matched %q for a confidential client", requested, registered)
		}
		if !MatchRedirectURI([]string{registered}, requested, true) || registered == requested {
			return
		}
		if !strings.HasPrefix(requested, "http://127.0.0.1") && !strings.HasPrefix(requested, "http://[::1]") {
			t.Fatalf("%q matched %q without being a loopback URI", requested, registered)
		}
		a, _ := stripLoopbackPort(registered)
		b, _ := stripLoopbackPort(requested)
		if a != b || a == "" {
			t.Fatalf("%q matched %q but they differ beyond the port", requested, registered)
		}
	})
}

func TestSecrets(t *testing.T) {
	s, h := NewSecret()
	if len(s) != 43 {
		t.Fatalf("secret %d chars, want 43 (256 bits base64url)", len(s))
	}
	if strings.Contains(string(h), s) || len(h) != 32 {
		t.Fatal("hash is not a SHA-256 of the secret")
	}
	if !SecretMatches(h, s) {
		t.Fatal("secret does not match its hash")
	}
	for _, wrong := range []string{"", s + " ", s + "\x00", s[:42], strings.ToUpper(s)} {
		if SecretMatches(h, wrong) {
			t.Errorf("%q matched", wrong)
		}
	}
	if SecretMatches(nil, s) || SecretMatches(nil, "") {
		t.Fatal("a nil hash matched")
	}
	seen := map[string]bool{}
	for range 1000 {
		s, _ := NewSecret()
		if seen[s] {
			t.Fatal("secret repeated")
		}
		seen[s] = true
	}
}
