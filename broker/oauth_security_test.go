package broker

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

func TestASCA01_MissingClientAuth(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	for _, path := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"} {
		fx.call(t, path, "", url.Values{"grant_type": {"client_credentials"}, "token": {"x"}}).wantError(t, 401, "invalid_client")
		fx.call(t, path, "", url.Values{"grant_type": {"client_credentials"}, "token": {"x"}, "client_id": {"web1"}}).wantError(t, 401, "invalid_client")
	}
	if n := fx.auditCount(t, "token.issued"); n != 0 {
		t.Fatal("issued")
	}
}

func TestASCA02_WrongSecret(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	good := fx.secrets["svc"]
	for name, secret := range map[string]string{
		"wrong": strings.Repeat("A", 43), "another client's": fx.secrets["web1"], "empty": "",
		"trailing space": good + " ", "trailing NUL": good + "\x00", "prefix": good[:42],
	} {
		r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("svc", url.QueryEscape(secret))
		res := fx.do(r)
		if res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
	}
	// client_secret_post for a client registered with basic is refused too.
	fx.call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {good}}).
		wantError(t, 401, "invalid_client")
	// Unknown client: the same answer.
	fx.call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {good}}).
		wantError(t, 401, "invalid_client")
	if fx.auditCount(t, "token.issued") != 0 || fx.rejections(t, "bad_secret") != 8 {
		t.Fatal("want 8 audited failures and nothing issued")
	}
}

func TestASCA05_PublicClientAsConfidential(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	fx.call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"spa"}}).wantError(t, 400, "unauthorized_client")
	fx.call(t, "/oauth2/introspect", "", url.Values{"token": {"x"}, "client_id": {"spa"}}).wantError(t, 400, "unauthorized_client")
	// web1 is confidential: client_id alone (auth method none) is not authentication.
	code, verifier, _ := fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	fx.exchange(t, "", code, verifier, "https://app1.test/cb", url.Values{"client_id": {"web1"}}).wantError(t, 401, "invalid_client")
}

func TestASCA06_PrivateKeyJWT(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	ok := fx.call(t, "/oauth2/token", "", jwtForm(fx.assertion(t, nil)))
	if ok.status != 200 {
		t.Fatalf("valid assertion: %s", ok.raw)
	}
	issuerAud := fx.call(t, "/oauth2/token", "", jwtForm(fx.assertion(t, func(h, c map[string]any) { c["aud"] = "https://gatehouse.test" })))
	if issuerAud.status != 200 {
		t.Fatalf("issuer as aud: %s", issuerAud.raw)
	}
	replayed := fx.assertion(t, nil)
	fx.call(t, "/oauth2/token", "", jwtForm(replayed))
	fx.call(t, "/oauth2/token", "", jwtForm(replayed)).wantError(t, 401, "invalid_client")
	for name, mutate := range map[string]func(h, c map[string]any){
		"wrong aud":       func(h, c map[string]any) { c["aud"] = "https://evil.test/token" },
		"expired 5 min":   func(h, c map[string]any) { c["exp"] = time.Now().Add(-5 * time.Minute).Unix() },
		"no exp":          func(h, c map[string]any) { delete(c, "exp") },
		"no sub":          func(h, c map[string]any) { delete(c, "sub") },
		"other iss":       func(h, c map[string]any) { c["iss"] = "svc" },
		"no jti":          func(h, c map[string]any) { delete(c, "jti") },
		"exp a day ahead": func(h, c map[string]any) { c["exp"] = time.Now().Add(24 * time.Hour).Unix() },
		"unknown kid":     func(h, c map[string]any) { h["kid"] = "k2" },
		"embedded jwk":    func(h, c map[string]any) { h["jku"] = "https://evil.test/jwks" },
	} {
		fx.call(t, "/oauth2/token", "", jwtForm(fx.assertion(t, mutate))).wantError(t, 401, "invalid_client")
		_ = name
	}
	good := fx.assertion(t, nil)
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	fx.call(t, "/oauth2/token", "", jwtForm(none)).wantError(t, 401, "invalid_client")
	fx.call(t, "/oauth2/token", "", jwtForm("not.a.jwt")).wantError(t, 401, "invalid_client")
	if n := fx.auditCount(t, "token.issued"); n != 3 {
		t.Fatalf("%d issued, want the 3 valid ones", n)
	}
}

func TestASINT01_IntrospectionNeedsAuth(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	at := fx.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).str("access_token")
	fx.call(t, "/oauth2/introspect", "", url.Values{"token": {at}}).wantError(t, 401, "invalid_client")
}

func TestASINT03_InactiveTokens(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	at := fx.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).str("access_token")
	parts := strings.Split(at, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."
	hs := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2]
	for name, tok := range map[string]string{
		"alg none (AS-JWT-01)": none, "HS256 (AS-JWT-02)": hs, "tampered": parts[0] + "." + parts[1] + "x." + parts[2],
		"random": "abc", "large": strings.Repeat("a", 7000), "dots": strings.Repeat(".", 5000), "refresh-like": strings.Repeat("A", 43),
	} {
		o := fx.call(t, "/oauth2/introspect", "basic:rs1", url.Values{"token": {tok}})
		if o.status != 200 || o.raw != `{"active":false}` {
			t.Errorf("%s: %d %s", name, o.status, o.raw)
		}
	}
	// Revoked (AS-REV via RFC 7009), then inactive with no detail.
	if o := fx.call(t, "/oauth2/revoke", "basic:svc", url.Values{"token": {at}}); o.status != 200 {
		t.Fatal(o.raw)
	}
	if o := fx.call(t, "/oauth2/introspect", "basic:rs1", url.Values{"token": {at}}); o.raw != `{"active":false}` {
		t.Fatalf("revoked token: %s", o.raw)
	}
	// 1 MB token: refused as too large before any parsing.
	fx.call(t, "/oauth2/introspect", "basic:rs1", url.Values{"token": {strings.Repeat("a", 1<<20)}}).wantError(t, 413, "invalid_request")
}

func TestASINT04_IntrospectionRateLimited(t *testing.T) {
	fx := newOAuthFixture(t, map[string]string{"GATEHOUSE_OAUTH_RATE_PER_CLIENT": "5"})
	limited := 0
	for range 30 {
		o := fx.call(t, "/oauth2/introspect", "basic:rs1", url.Values{"token": {"guess"}})
		if o.status == 429 {
			limited++
			if o.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Fatal("no 429")
	}
	// Another client is unaffected.
	if o := fx.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}); o.status != 200 {
		t.Fatalf("other client: %s", o.raw)
	}
}

func TestDOS07_BadSecretsRunIntoTheLimit(t *testing.T) {
	fx := newOAuthFixture(t, map[string]string{"GATEHOUSE_OAUTH_RATE_PER_IP": "100"})
	got429 := false
	for range 5 {
		o := fx.call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {"guess"}})
		got429 = got429 || o.status == 429
	}
	if !got429 {
		t.Fatal("guessing secrets never hit 429")
	}
	// Another address with another client is unaffected.
	r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = "198.51.100.7:4000"
	r.SetBasicAuth("svc", url.QueryEscape(fx.secrets["svc"]))
	if res := fx.do(r); res.StatusCode != 200 {
		t.Fatalf("legitimate client from another address: %d", res.StatusCode)
	}
}

func TestASREV02_RevokingRefreshTokenRevokesItsAccessTokens(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	code, verifier, _ := fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	o := fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	if r := fx.call(t, "/oauth2/revoke", "basic:web1", url.Values{"token": {o.str("refresh_token")}, "token_type_hint": {"refresh_token"}}); r.status != 200 {
		t.Fatal(r.raw)
	}
	if fx.active(t, o.str("access_token")) || fx.activeFor(t, "web1", o.str("refresh_token")) {
		t.Fatal("still active after revocation")
	}
}

func TestASREV03_RevokeUnknownTokens(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	for _, v := range []url.Values{
		{"token": {"unknown"}}, {"token": {"a.b.c"}}, {"token": {"x"}, "token_type_hint": {"bogus"}},
	} {
		if o := fx.call(t, "/oauth2/revoke", "basic:web1", v); o.status != 200 {
			t.Errorf("%v: %d %s", v, o.status, o.raw)
		}
	}
	// Another client's token: 200, and nothing happens to it.
	at := fx.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).str("access_token")
	fx.call(t, "/oauth2/revoke", "basic:web1", url.Values{"token": {at}})
	if !fx.active(t, at) {
		t.Fatal("web1 revoked svc's token")
	}
}

func TestASMETA01_Discovery(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	res := fx.do(httptest.NewRequest("GET", "/.well-known/openid-configuration", nil))
	var d map[string]any
	must(t, json.Unmarshal([]byte(body(t, res)), &d))
	if d["issuer"] != "https://gatehouse.test" || d["token_endpoint"] != "https://gatehouse.test/oauth2/token" ||
		d["introspection_endpoint"] == nil || d["revocation_endpoint"] == nil {
		t.Fatalf("%v", d)
	}
	b, _ := json.Marshal(d["code_challenge_methods_supported"])
	if string(b) != `["S256"]` {
		t.Errorf("code_challenge_methods_supported %s", b)
	}
	for k, v := range d {
		if s, ok := v.(string); ok && strings.HasPrefix(s, "http") && !strings.HasPrefix(s, "https://") {
			t.Errorf("%s is not https", k)
		}
	}
	at := fx.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).str("access_token")
	var cl map[string]any
	must(t, fx.km.Verify(t.Context(), at, "at+jwt", &cl))
	if cl["iss"] != d["issuer"] {
		t.Errorf("token iss %v ≠ discovery issuer", cl["iss"])
	}
}

func TestASMETA05_NoCORSOnTokenEndpoint(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "https://evil.test")
	r.SetBasicAuth("svc", url.QueryEscape(fx.secrets["svc"]))
	if res := fx.do(r); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header on the token endpoint")
	}
}

func TestDOS11_ParameterLimits(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	for name, v := range map[string]url.Values{
		"repeated grant_type": {"grant_type": {"client_credentials", "client_credentials"}},
		"repeated scope":      {"grant_type": {"client_credentials"}, "scope": {"read", "write"}},
		"huge scope":          {"grant_type": {"client_credentials"}, "scope": {strings.Repeat("read ", 300)}},
		"long verifier":       {"grant_type": {"authorization_code"}, "code": {"x"}, "code_verifier": {strings.Repeat("a", 129)}},
	} {
		fx.call(t, "/oauth2/token", "basic:svc", v).wantError(t, 400, "invalid_request")
		_ = name
	}
	many := url.Values{"grant_type": {"client_credentials"}}
	for i := range 20 {
		many.Add("resource", "https://r"+strings.Repeat("x", i)+".test")
	}
	fx.call(t, "/oauth2/token", "basic:svc", many).wantError(t, 400, "invalid_target")
	r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(strings.Repeat("a", 100<<10)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := fx.do(r); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", res.StatusCode)
	}
	if n := fx.auditCount(t, "token.issued"); n != 0 {
		t.Fatal("issued")
	}
}

// TestDATA03_DBHoldsNoUsableSecrets greps the SQLite file for every issued refresh
// token, code and client secret.
func TestDATA03_DBHoldsNoUsableSecrets(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	code, verifier, _ := fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	o := fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {o.str("refresh_token")}})
	fx.auditCount(t, "x") // flush the audit queue into the file
	dump := ""
	for _, suffix := range []string{"", "-wal"} {
		b, _ := os.ReadFile(fx.dbPath + suffix)
		dump += string(b)
	}
	for _, s := range append([]string{code, o.str("refresh_token")}, fx.secrets["web1"], fx.secrets["svc"]) {
		if strings.Contains(dump, s) {
			t.Errorf("the database file holds a secret value %q…", s[:6])
		}
	}
}

// TestDATA04_LogsHoldNoTokens runs the flows and greps every log line for every
// token, code, verifier and secret the test saw.
func TestDATA04_LogsHoldNoTokens(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	code, verifier, _ := fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	o := fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil) // reuse: error path logs
	fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {o.str("refresh_token")}})
	fx.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}})
	fx.call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {fx.secrets["web1"]}})
	fx.call(t, "/oauth2/introspect", "basic:rs1", url.Values{"token": {o.str("access_token")}})
	fx.call(t, "/oauth2/revoke", "basic:web1", url.Values{"token": {o.str("refresh_token")}})
	fx.call(t, "/oauth2/token", "", jwtForm(fx.assertion(t, nil)))
	fx.auditCount(t, "x")
	logs := fx.log.String()
	if !strings.Contains(logs, "oauth request refused") {
		t.Fatal("the error paths logged nothing: the test is not looking at the log")
	}
	for _, s := range fx.issued {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the log holds a token/secret %q…", s[:min(6, len(s))])
		}
	}
	for _, bad := range []string{"client_secret=", "Authorization: ", "Basic "} {
		if strings.Contains(logs, bad) {
			t.Errorf("log contains %q", bad)
		}
	}
}
