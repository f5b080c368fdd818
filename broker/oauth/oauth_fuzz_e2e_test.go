package oauth_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// FuzzTokenRequest throws arbitrary bodies and Authorization headers at the token
// endpoint: it brokertest.Must never panic, always answer JSON, and never issue a token without
// valid credentials (DOS-14). The seeds run as regular tests.
func FuzzTokenRequest(f *testing.F) {
	for _, s := range [][2]string{
		{"grant_type=client_credentials", "Basic c3ZjOnNlY3JldA=="},
		{"grant_type=client_credentials&grant_type=client_credentials", ""},
		{"grant_type=authorization_code&code=x&code_verifier=" + strings.Repeat("a", 43), "Basic Og=="},
		{"grant_type=refresh_token&refresh_token=%ZZ", "Basic %%%"},
		{"client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c", ""},
		{"resource=a&resource=b&scope=%00%FF", "Bearer x"},
		{strings.Repeat("a=b&", 40), ""},
	} {
		f.Add(s[0], s[1])
	}
	fx := brokertest.NewOAuthFixture(f, nil)
	f.Fuzz(func(t *testing.T, body, auth string) {
		r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			r.Header["Authorization"] = []string{auth}
		}
		w := httptest.NewRecorder()
		fx.ServeHTTP(w, r)
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%d: not JSON: %q", w.Code, w.Body.String())
		}
		if w.Code == 200 || out["access_token"] != nil {
			t.Fatalf("issued a token without credentials: %q %q", body, auth)
		}
	})
}
