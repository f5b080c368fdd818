package oauth_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// FuzzTokenRequest throws arbitrary bodies and Authorization headers at the token
// endpoint: it must never panic or fail with 5xx, always answer JSON, never issue
// a token without valid credentials (DOS-14), and store nothing. The seeds run as
// regular tests.
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
	// Rate limits off: otherwise the fuzzer's failed authentications soon meet
	// nothing but 429.
	fx := brokertest.NewOAuthFixture(f, map[string]string{"GATEHOUSE_LOG_LEVEL": "error",
		"GATEHOUSE_OAUTH_RATE_PER_CLIENT": "0", "GATEHOUSE_OAUTH_RATE_PER_IP": "0"})
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
		if w.Code == 200 || out["access_token"] != nil || w.Code >= 500 {
			t.Fatalf("%d without credentials: %q %q: %v", w.Code, body, auth, out)
		}
		// A refused request stores nothing.
		for _, table := range []string{"auth_codes", "refresh_tokens", "replay_cache", "consents"} {
			if n := fx.Rows(t, table); n != 0 {
				t.Fatalf("%d %s rows after %q %q", n, table, body, auth)
			}
		}
	})
}

// FuzzClientAssertion throws arbitrary private_key_jwt client assertions (RFC
// 7523 §2.2, OIDC Core §9) at the token endpoint, rate limits off so that every
// input reaches verification: only jwt1's seed assertions, each signed by its
// key, are accepted, each jti once (replay, RFC 7523 §3 item 7); anything else is
// 401 invalid_client (or 400 for an oversized form) and stores nothing (no replay-cache row, no token). The seeds
// (alg none, HS256, another client's iss, a wrong aud, an expired one, an
// embedded jwk) run as regular tests.
func FuzzClientAssertion(f *testing.F) {
	fx := brokertest.NewOAuthFixture(f, map[string]string{"GATEHOUSE_LOG_LEVEL": "error",
		"GATEHOUSE_OAUTH_RATE_PER_CLIENT": "0", "GATEHOUSE_OAUTH_RATE_PER_IP": "0"})
	jtis := map[string]bool{}
	good := func(mutate func(h, c map[string]any)) string {
		var jti string
		a := fx.Assertion(f, func(h, c map[string]any) {
			if mutate != nil {
				mutate(h, c)
			}
			jti, _ = c["jti"].(string)
		})
		jtis[jti] = true
		return a
	}
	valid := good(nil)
	parts := strings.Split(valid, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	for _, s := range []string{
		valid,
		good(func(_, c map[string]any) { c["aud"] = "https://gatehouse.test" }),
		fx.Assertion(f, func(_, c map[string]any) { c["iss"], c["sub"] = "svc", "svc" }),
		fx.Assertion(f, func(_, c map[string]any) { c["aud"] = "https://elsewhere.test/token" }),
		fx.Assertion(f, func(_, c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }),
		fx.Assertion(f, func(_, c map[string]any) { c["exp"] = time.Now().Add(24 * time.Hour).Unix() }),
		fx.Assertion(f, func(_, c map[string]any) { delete(c, "jti") }),
		fx.Assertion(f, func(h, _ map[string]any) { h["jwk"] = map[string]any{"kty": "EC"} }),
		b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".",
		b64([]byte(`{"alg":"HS256","kid":"k1"}`)) + "." + parts[1] + "." + parts[2],
		parts[0] + "." + parts[1] + "." + parts[2][:20],
		"a.b.c", "", strings.Repeat("e", 9000),
	} {
		f.Add(s)
	}
	accepted := map[string]bool{}
	f.Fuzz(func(t *testing.T, assertion string) {
		replayRows := fx.Rows(t, "replay_cache")
		v := brokertest.JWTForm(assertion)
		v.Set("client_id", "jwt1")
		r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		fx.ServeHTTP(w, r)
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%d: not JSON: %q", w.Code, w.Body.String())
		}
		if w.Code == 200 {
			var c struct{ JTI string }
			p := strings.Split(assertion, ".")
			b, _ := base64.RawURLEncoding.DecodeString(p[1])
			json.Unmarshal(b, &c)
			if !jtis[c.JTI] || accepted[c.JTI] {
				t.Fatalf("accepted %q (jti %q, used before: %v)", assertion, c.JTI, accepted[c.JTI])
			}
			accepted[c.JTI] = true
			return
		}
		// An oversized form is refused before authentication (400 invalid_request).
		if !(w.Code == 401 && out["error"] == "invalid_client" || w.Code == 400 && out["error"] == "invalid_request") ||
			out["access_token"] != nil {
			t.Fatalf("%d %v, want 401 invalid_client", w.Code, out)
		}
		if n := fx.Rows(t, "replay_cache"); n != replayRows {
			t.Fatalf("refused, yet the replay cache grew from %d to %d rows", replayRows, n)
		}
	})
}
