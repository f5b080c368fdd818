package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
)

var api = &store.API{Audience: "https://api1.test", Scopes: []store.Scope{
	{Name: "read"}, {Name: "write", Roles: []string{"editor"}}, {Name: "admin", Roles: []string{"admin"}},
}}

func TestGrantScopes(t *testing.T) {
	allowed := []string{"openid", "profile", "read", "write", "unknown"}
	for _, tc := range []struct {
		name string
		r    ScopeRequest
		want []string
	}{
		{"user, all entitled", ScopeRequest{Requested: []string{"openid", "read", "write"}, ClientAllowed: allowed, API: api, User: true, Roles: []string{"editor"}}, []string{"openid", "read", "write"}},
		{"user without role", ScopeRequest{Requested: []string{"read", "write"}, ClientAllowed: allowed, API: api, User: true}, []string{"read"}},
		{"AS-DEL-01 not allowed to client", ScopeRequest{Requested: []string{"read", "admin"}, ClientAllowed: allowed, API: api, User: true, Roles: []string{"admin"}}, []string{"read"}},
		{"not an API scope", ScopeRequest{Requested: []string{"unknown"}, ClientAllowed: allowed, API: api, User: true}, nil},
		{"omitted: client default", ScopeRequest{ClientAllowed: allowed, API: api}, []string{"read", "write"}},
		{"client: no identity scopes", ScopeRequest{Requested: []string{"openid", "read"}, ClientAllowed: allowed, API: api}, []string{"read"}},
		{"client: roles do not apply", ScopeRequest{Requested: []string{"write"}, ClientAllowed: allowed, API: api}, []string{"write"}},
		{"no API", ScopeRequest{Requested: []string{"openid", "read"}, ClientAllowed: allowed, User: true}, []string{"openid"}},
		{"duplicates", ScopeRequest{Requested: []string{"read", "read"}, ClientAllowed: allowed, API: api}, []string{"read"}},
	} {
		if got := GrantScopes(tc.r); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseScope(t *testing.T) {
	if got := ParseScope(" read  write read "); !slices.Equal(got, []string{"read", "write"}) {
		t.Fatal(got)
	}
	if ParseScope("") != nil {
		t.Fatal("empty scope parsed to something")
	}
}

func TestSelectAudience(t *testing.T) {
	c := &store.Client{DefaultAudience: "https://api1.test", Audiences: []string{"https://api2.test"}}
	for _, tc := range []struct {
		res  []string
		want string
		ok   bool
	}{
		{nil, "https://api1.test", true},
		{[]string{"https://api1.test"}, "https://api1.test", true},
		{[]string{"https://api2.test"}, "https://api2.test", true},
		{[]string{"https://api3.test"}, "", false},
		{[]string{""}, "", false},
		{[]string{"https://api1.test", "https://api2.test"}, "", false},
	} {
		got, err := SelectAudience(tc.res, c)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("%v: %q, %v", tc.res, got, err)
		}
	}
}

func TestAudienceJSON(t *testing.T) {
	b, _ := json.Marshal(Audience{"a"})
	if string(b) != `"a"` {
		t.Fatal(string(b))
	}
	b, _ = json.Marshal(Audience{"a", "b"})
	var back Audience
	if json.Unmarshal(b, &back) != nil || !slices.Equal(back, Audience{"a", "b"}) {
		t.Fatal(string(b))
	}
}

func TestAccessTokenHash(t *testing.T) {
	// OIDC Core §A.3 example: at_hash of this access token with RS256.
	if got := AccessTokenHash("RS256", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"); got != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Fatalf("at_hash %q", got)
	}
}

func TestOpaqueTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		tok, h := NewOpaque()
		if len(tok) != 43 || seen[tok] || string(Hash(tok)) != string(h) {
			t.Fatal("opaque token not unique 256-bit or hash mismatch")
		}
		seen[tok] = true
	}
}

// TestASCODE06_OpaqueTokenEntropy: codes and refresh tokens are 256 bits from
// crypto/rand, never repeat, and what is stored is their hash.
func TestASCODE06_OpaqueTokenEntropy(t *testing.T) {
	seen := make(map[string]bool, 10000)
	for range 10000 {
		tok, hash := NewOpaque()
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) < 32 {
			t.Fatalf("token %q: %d bytes, %v", tok, len(raw), err)
		}
		if seen[tok] {
			t.Fatal("a token repeated")
		}
		seen[tok] = true
		if !bytes.Equal(hash, Hash(tok)) || bytes.Contains(hash, []byte(tok)) || len(hash) != 32 {
			t.Fatal("the stored form is not the token's SHA-256")
		}
	}
}
