package oauth_test

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

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

func TestASCA01_MissingClientAuth(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	for _, path := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"} {
		fx.Call(t, path, "", url.Values{"grant_type": {"client_credentials"}, "token": {"x"}}).WantError(t, 401, "invalid_client")
		fx.Call(t, path, "", url.Values{"grant_type": {"client_credentials"}, "token": {"x"}, "client_id": {"web1"}}).WantError(t, 401, "invalid_client")
	}
	if n := fx.AuditCount(t, "token.issued"); n != 0 {
		t.Fatal("issued")
	}
}

func TestASCA02_WrongSecret(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	good := fx.Secrets["svc"]
	for name, secret := range map[string]string{
		"wrong": strings.Repeat("A", 43), "another client's": fx.Secrets["web1"], "empty": "",
		"trailing space": good + " ", "trailing NUL": good + "\x00", "prefix": good[:42],
	} {
		r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("svc", url.QueryEscape(secret))
		res := fx.Do(r)
		if res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
	}
	// client_secret_post for a client registered with basic is refused too.
	fx.Call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {good}}).
		WantError(t, 401, "invalid_client")
	// Unknown client: the same answer.
	fx.Call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {good}}).
		WantError(t, 401, "invalid_client")
	if fx.AuditCount(t, "token.issued") != 0 || fx.Rejections(t, "bad_secret") != 8 {
		t.Fatal("want 8 audited failures and nothing issued")
	}
}

func TestASCA05_PublicClientAsConfidential(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	fx.Call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"spa"}}).WantError(t, 400, "unauthorized_client")
	fx.Call(t, "/oauth2/introspect", "", url.Values{"token": {"x"}, "client_id": {"spa"}}).WantError(t, 400, "unauthorized_client")
	// web1 is confidential: client_id alone (auth method none) is not authentication.
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	fx.Exchange(t, "", code, verifier, "https://app1.test/cb", url.Values{"client_id": {"web1"}}).WantError(t, 401, "invalid_client")
}

func TestASCA06_PrivateKeyJWT(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	ok := fx.Call(t, "/oauth2/token", "", brokertest.JWTForm(fx.Assertion(t, nil)))
	if ok.Status != 200 {
		t.Fatalf("valid assertion: %s", ok.Raw)
	}
	issuerAud := fx.Call(t, "/oauth2/token", "", brokertest.JWTForm(fx.Assertion(t, func(h, c map[string]any) { c["aud"] = "https://gatehouse.test" })))
	if issuerAud.Status != 200 {
		t.Fatalf("issuer as aud: %s", issuerAud.Raw)
	}
	replayed := fx.Assertion(t, nil)
	fx.Call(t, "/oauth2/token", "", brokertest.JWTForm(replayed))
	fx.Call(t, "/oauth2/token", "", brokertest.JWTForm(replayed)).WantError(t, 401, "invalid_client")
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
		fx.Call(t, "/oauth2/token", "", brokertest.JWTForm(fx.Assertion(t, mutate))).WantError(t, 401, "invalid_client")
		_ = name
	}
	good := fx.Assertion(t, nil)
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	fx.Call(t, "/oauth2/token", "", brokertest.JWTForm(none)).WantError(t, 401, "invalid_client")
	fx.Call(t, "/oauth2/token", "", brokertest.JWTForm("not.a.jwt")).WantError(t, 401, "invalid_client")
	if n := fx.AuditCount(t, "token.issued"); n != 3 {
		t.Fatalf("%d issued, want the 3 valid ones", n)
	}
}

func TestASINT01_IntrospectionNeedsAuth(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	at := fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	fx.Call(t, "/oauth2/introspect", "", url.Values{"token": {at}}).WantError(t, 401, "invalid_client")
}

func TestASINT03_InactiveTokens(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	at := fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	parts := strings.Split(at, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."
	hs := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2]
	for name, tok := range map[string]string{
		"alg none (AS-JWT-01)": none, "HS256 (AS-JWT-02)": hs, "tampered": parts[0] + "." + parts[1] + "x." + parts[2],
		"random": "abc", "large": strings.Repeat("a", 7000), "dots": strings.Repeat(".", 5000), "refresh-like": strings.Repeat("A", 43),
	} {
		o := fx.Call(t, "/oauth2/introspect", "basic:rs1", url.Values{"token": {tok}})
		if o.Status != 200 || o.Raw != `{"active":false}` {
			t.Errorf("%s: %d %s", name, o.Status, o.Raw)
		}
	}
	// Revoked (AS-REV via RFC 7009), then inactive with no detail.
	if o := fx.Call(t, "/oauth2/revoke", "basic:svc", url.Values{"token": {at}}); o.Status != 200 {
		t.Fatal(o.Raw)
	}
	if o := fx.Call(t, "/oauth2/introspect", "basic:rs1", url.Values{"token": {at}}); o.Raw != `{"active":false}` {
		t.Fatalf("revoked token: %s", o.Raw)
	}
	// 1 MB token: refused as too large before any parsing.
	fx.Call(t, "/oauth2/introspect", "basic:rs1", url.Values{"token": {strings.Repeat("a", 1<<20)}}).WantError(t, 413, "invalid_request")
}

func TestASINT04_IntrospectionRateLimited(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, map[string]string{"GATEHOUSE_OAUTH_RATE_PER_CLIENT": "5"})
	limited := 0
	for range 30 {
		o := fx.Call(t, "/oauth2/introspect", "basic:rs1", url.Values{"token": {"guess"}})
		if o.Status == 429 {
			limited++
			if o.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Fatal("no 429")
	}
	// Another client is unaffected.
	if o := fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}); o.Status != 200 {
		t.Fatalf("other client: %s", o.Raw)
	}
}

func TestDOS07_BadSecretsRunIntoTheLimit(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, map[string]string{"GATEHOUSE_OAUTH_RATE_PER_IP": "100"})
	got429 := false
	for range 5 {
		o := fx.Call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {"guess"}})
		got429 = got429 || o.Status == 429
	}
	if !got429 {
		t.Fatal("guessing secrets never hit 429")
	}
	// Another address with another client is unaffected.
	r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = "198.51.100.7:4000"
	r.SetBasicAuth("svc", url.QueryEscape(fx.Secrets["svc"]))
	if res := fx.Do(r); res.StatusCode != 200 {
		t.Fatalf("legitimate client from another address: %d", res.StatusCode)
	}
}

func TestASREV02_RevokingRefreshTokenRevokesItsAccessTokens(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	o := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	if r := fx.Call(t, "/oauth2/revoke", "basic:web1", url.Values{"token": {o.Str("refresh_token")}, "token_type_hint": {"refresh_token"}}); r.Status != 200 {
		t.Fatal(r.Raw)
	}
	if fx.Active(t, o.Str("access_token")) || fx.ActiveFor(t, "web1", o.Str("refresh_token")) {
		t.Fatal("still active after revocation")
	}
}

func TestASREV03_RevokeUnknownTokens(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	for _, v := range []url.Values{
		{"token": {"unknown"}}, {"token": {"a.b.c"}}, {"token": {"x"}, "token_type_hint": {"bogus"}},
	} {
		if o := fx.Call(t, "/oauth2/revoke", "basic:web1", v); o.Status != 200 {
			t.Errorf("%v: %d %s", v, o.Status, o.Raw)
		}
	}
	// Another client's token: 200, and nothing happens to it.
	at := fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	fx.Call(t, "/oauth2/revoke", "basic:web1", url.Values{"token": {at}})
	if !fx.Active(t, at) {
		t.Fatal("web1 revoked svc's token")
	}
}

func TestASMETA01_Discovery(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	res := fx.Do(httptest.NewRequest("GET", "/.well-known/openid-configuration", nil))
	var d map[string]any
	brokertest.Must(t, json.Unmarshal([]byte(brokertest.Body(t, res)), &d))
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
	at := fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	var cl map[string]any
	brokertest.Must(t, fx.KM.Verify(t.Context(), at, "at+jwt", &cl))
	if cl["iss"] != d["issuer"] {
		t.Errorf("token iss %v ≠ discovery issuer", cl["iss"])
	}
}

func TestASMETA05_NoCORSOnTokenEndpoint(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "https://evil.test")
	r.SetBasicAuth("svc", url.QueryEscape(fx.Secrets["svc"]))
	if res := fx.Do(r); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header on the token endpoint")
	}
}

func TestDOS11_ParameterLimits(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	for name, v := range map[string]url.Values{
		"repeated grant_type": {"grant_type": {"client_credentials", "client_credentials"}},
		"repeated scope":      {"grant_type": {"client_credentials"}, "scope": {"read", "write"}},
		"huge scope":          {"grant_type": {"client_credentials"}, "scope": {strings.Repeat("read ", 300)}},
		"long verifier":       {"grant_type": {"authorization_code"}, "code": {"x"}, "code_verifier": {strings.Repeat("a", 129)}},
	} {
		fx.Call(t, "/oauth2/token", "basic:svc", v).WantError(t, 400, "invalid_request")
		_ = name
	}
	many := url.Values{"grant_type": {"client_credentials"}}
	for i := range 20 {
		many.Add("resource", "https://r"+strings.Repeat("x", i)+".test")
	}
	fx.Call(t, "/oauth2/token", "basic:svc", many).WantError(t, 400, "invalid_target")
	r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(strings.Repeat("a", 100<<10)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := fx.Do(r); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", res.StatusCode)
	}
	if n := fx.AuditCount(t, "token.issued"); n != 0 {
		t.Fatal("issued")
	}
}

// TestDATA03_DBHoldsNoUsableSecrets greps the SQLite file for every issued refresh
// token, code and client secret.
func TestDATA03_DBHoldsNoUsableSecrets(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	o := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {o.Str("refresh_token")}})
	fx.AuditCount(t, "x") // flush the audit queue into the file
	dump := ""
	for _, suffix := range []string{"", "-wal"} {
		b, _ := os.ReadFile(fx.DBPath + suffix)
		dump += string(b)
	}
	for _, s := range append([]string{code, o.Str("refresh_token")}, fx.Secrets["web1"], fx.Secrets["svc"]) {
		if strings.Contains(dump, s) {
			t.Errorf("the database file holds a secret value %q…", s[:6])
		}
	}
}

// TestDATA04_LogsHoldNoTokens runs the flows and greps every log line for every
// token, code, verifier and secret the test saw.
func TestDATA04_LogsHoldNoTokens(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	o := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil) // reuse: error path logs
	fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {o.Str("refresh_token")}})
	fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}})
	fx.Call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {fx.Secrets["web1"]}})
	fx.Call(t, "/oauth2/introspect", "basic:rs1", url.Values{"token": {o.Str("access_token")}})
	fx.Call(t, "/oauth2/revoke", "basic:web1", url.Values{"token": {o.Str("refresh_token")}})
	fx.Call(t, "/oauth2/token", "", brokertest.JWTForm(fx.Assertion(t, nil)))
	fx.AuditCount(t, "x")
	logs := fx.Log.String()
	if !strings.Contains(logs, "oauth request refused") {
		t.Fatal("the error paths logged nothing: the test is not looking at the log")
	}
	for _, s := range fx.Issued {
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
