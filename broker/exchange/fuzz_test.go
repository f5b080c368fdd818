package exchange_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzExchangeRequest throws arbitrary subject and actor tokens, token types,
// targets and scopes at the token-exchange grant of an authenticated client:
// it must never panic or fail with 5xx, always answer RFC 8693 §2.2.2 JSON, and
// issue only for the subjects it can verify (alice and carol, from the seeds'
// real ID token and assertion; the assertion is accepted once). The seeds run as regular tests.
func FuzzExchangeRequest(f *testing.F) {
	fx := newFixture(f, fixtureOpts{settings: benchSettings})
	idt, saml := fx.idToken(nil), fx.assertion()
	parts := strings.Split(idt, ".")
	for _, s := range [][5]string{
		{idt, typeID, "", "", "read"},
		{idt, typeID, "", rs2, ""},
		{idt, typeAT, "", "", ""},
		{idt, typeSAML, "", "", ""},
		{saml, typeSAML, "", "", "read"},
		{saml, typeID, "", "", ""},
		{parts[0] + "." + parts[1] + ".", typeID, "", "", ""},
		{"eyJ0eXAiOiJKV1QifQ.eyJpc3MiOjF9.x", typeID, "", "", ""},
		{"eyJ0eXAiOiJhdCtqd3QifQ.e30.x", typeAT, "a.b.c", "", ""},
		{"PHNhbWw6QXNzZXJ0aW9uLz4", typeSAML, "", "", ""},
		{"PCFET0NUWVBFIHg-PHg-PC94Pg", typeSAML, "", "", ""},
		{idt, "urn:x", "", "https://nope.test", "openid"},
		{"", "", "", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	srv := fx.Srv()
	secret := fx.secrets["cli"]
	codes := []string{"invalid_request", "invalid_grant", "invalid_target", "invalid_scope", "unauthorized_client"}
	f.Fuzz(func(t *testing.T, subject, typ, actor, target, scope string) {
		v := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {subject},
			"subject_token_type": {typ}, "audience": {target}, "scope": {scope}}
		if actor != "" {
			v.Set("actor_token", actor)
			v.Set("actor_token_type", typeAT)
		}
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("cli", secret)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%d: not JSON: %q", w.Code, w.Body.String())
		}
		switch w.Code {
		case http.StatusOK:
			at, _ := out["access_token"].(string)
			if cl := decode(t, at); !(cl.Subject == "alice" && subject == idt || cl.Subject == "carol" && subject == saml) {
				t.Fatalf("issued for %q from %q", cl.Subject, subject)
			}
		case http.StatusBadRequest:
			if code, _ := out["error"].(string); !slices.Contains(codes, code) || out["access_token"] != nil {
				t.Fatalf("error %v", out)
			}
		default:
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
}
