package token

import (
	"encoding/json"
	"testing"
)

// AppendJSON must write exactly what encoding/json writes, for every field set or
// empty and for strings that need escaping.
func TestAccessClaimsAppendJSON(t *testing.T) {
	odd := []string{"", "plain", `q"uote`, `back\slash`, "ctl\x01\n\t", "<script>&amp;", "ünïcode ✓",
		"line\u2028sep", "bad\xffutf8", "del\x7f"}
	cases := []AccessClaims{
		{},
		{Issuer: "https://id.example.com", Subject: "svc", Audience: Audience{"https://api.test"}, Expiry: 1772370000,
			IssuedAt: 1772366400, ID: "9f1c0c1e8a0b4d6e", ClientID: "svc", Scope: "read write"},
		{Issuer: "https://id.example.com", Subject: "u1", Audience: Audience{"https://api.test", "https://id.example.com"},
			Expiry: -1, IssuedAt: 0, ID: "j", ClientID: "web", Scope: "openid read", AuthTime: 1772366000, ACR: "urn:mfa",
			AMR: []string{"pwd", "otp"}, SessionID: "s1", GrantID: "g1"},
		{Audience: Audience{}, AMR: []string{}},
		// RFC 8693: an exchanged token with its actor chain (§4.1), a may_act (§4.4)
		// and the upstream provider it came from.
		{Issuer: "https://id.example.com", Subject: "u1", Audience: Audience{"https://api2.test"}, Expiry: 1772370000,
			IssuedAt: 1772366400, ID: "x", ClientID: "svc2", Scope: "read",
			Act:    &Actor{Subject: "svc2", Act: &Actor{Subject: "svc1", Issuer: "https://id.example.com", Act: &Actor{}}},
			MayAct: &Actor{Subject: "svc3"}, Provider: "corp"},
		{Act: &Actor{}, MayAct: &Actor{Issuer: "https://other.example"}},
		// A token acting for u1 under a delegation (issue 11).
		{Issuer: "https://id.example.com", Subject: "u1", Audience: Audience{"https://care.test"}, ID: "d", ClientID: "ward",
			Scope: "plans.read", Act: &Actor{Subject: "u2"}, DelegationID: "dlg1"},
		// Bound tokens (RFC 7800 cnf): DPoP (RFC 9449 §6.1), certificate (RFC 8705 §3.1), both, neither.
		{ID: "b", Confirmation: &Confirmation{JKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}},
		{ID: "c", Confirmation: &Confirmation{X5TS256: "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}},
		{ID: "d", Confirmation: &Confirmation{JKT: "a", X5TS256: "b"}},
		{Confirmation: &Confirmation{}},
	}
	for _, s := range odd {
		cases = append(cases, AccessClaims{Issuer: s, Subject: s, Audience: Audience{s, s}, ID: s, ClientID: s, Scope: s,
			ACR: s, AMR: []string{s}, SessionID: s, GrantID: s, AuthTime: 1,
			Act: &Actor{Subject: s, Issuer: s, Act: &Actor{Subject: s, Issuer: s}}, MayAct: &Actor{Subject: s, Issuer: s}, Provider: s,
			DelegationID: s, Confirmation: &Confirmation{JKT: s, X5TS256: s}})
	}
	for _, c := range cases {
		want, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("AppendJSON:\n got %s\nwant %s", got, want)
		}
	}
}

// FuzzAccessClaimsAppendJSON: whatever claims a JSON payload decodes to (nested act
// chains included), AppendJSON writes what encoding/json writes.
func FuzzAccessClaimsAppendJSON(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"iss":"https://id.example.com","sub":"svc","aud":"https://api.test","exp":1,"iat":2,"jti":"j","client_id":"svc","scope":"read"}`,
		`{"sub":"u1","aud":["a","b"],"amr":["pwd"],"sid":"s","gid":"g","idp":"corp","auth_time":3,"acr":"urn:mfa"}`,
		`{"sub":"u1","act":{"sub":"svc2","act":{"sub":"svc1","iss":"https://id.example.com","act":{"sub":"svc0"}}}}`,
		`{"may_act":{"sub":"svc3","iss":"https://id.example.com"},"act":{"sub":"< "x"}}`,
		`{"act":{},"may_act":{"act":{"act":{}}},"aud":[]}`,
		`{"sub":"u1","act":{"sub":"u2"},"delegation_id":"dlg1","idp":"corp"}`,
		`{"delegation_id":"<\u2028>"}`,
		`{"cnf":{"jkt":"a","x5t#S256":"<b>"}}`,
		`{"cnf":{}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var c AccessClaims
		if json.Unmarshal(payload, &c) != nil {
			return
		}
		c.NotBefore = 0 // never set by Gatehouse, so AppendJSON does not write it
		want, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("AppendJSON:\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkAccessClaimsJSON(b *testing.B) {
	c := AccessClaims{Issuer: "https://id.example.com", Subject: "Fcvxc_PEO4IhD5Mb34oMBw", Audience: Audience{"https://api.bench.test"},
		Expiry: 1795902375, IssuedAt: 1795901775, ID: "zOlTQbNT-jsNz5PXn4mf-Q", ClientID: "Fcvxc_PEO4IhD5Mb34oMBw", Scope: "api"}
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(&c)
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = c.AppendJSON(make([]byte, 0, 512))
		}
	})
}
