package broker

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestClientCredentialsIssuesScopedJWT(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	o := fx.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}, "scope": {"read admin"}})
	if o.status != 200 || o.str("token_type") != "Bearer" || o.str("scope") != "read" {
		t.Fatalf("%d %s", o.status, o.raw)
	}
	if o.header.Get("Cache-Control") != "no-store" || o.header.Get("Pragma") != "no-cache" {
		t.Errorf("AS-META-02: headers %v", o.header)
	}
	info := fx.introspect(t, o.str("access_token"))
	if info["active"] != true || info["sub"] != "svc" || info["client_id"] != "svc" || info["scope"] != "read" {
		t.Fatalf("introspection %v", info)
	}
	if fx.auditCount(t, "token.issued") != 1 {
		t.Fatal("issuance not audited")
	}
}

func TestASRT08_ClientCredentialsHasNoRefreshToken(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	o := fx.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}})
	if _, ok := o.body["refresh_token"]; ok || o.status != 200 || o.str("scope") != "read write" {
		t.Fatalf("%s", o.raw)
	}
}

func TestASDEL05_ClientCredentialsScopeAndTarget(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	fx.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}).
		wantError(t, 400, "invalid_scope")
	fx.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}, "resource": {rs2}}).
		wantError(t, 400, "invalid_target")
	fx.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}, "resource": {"https://unknown.test"}}).
		wantError(t, 400, "invalid_target")
	fx.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}, "resource": {rs1, rs1 + "/x"}}).
		wantError(t, 400, "invalid_target")
	if n := fx.auditCount(t, "token.issued"); n != 0 {
		t.Fatalf("%d issuance events", n)
	}
}

func TestAuthorizationCodeFlowAndRefresh(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	code, verifier, _ := fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	o := fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	if o.status != 200 || o.str("refresh_token") == "" || o.str("id_token") == "" || o.str("scope") != "openid read" {
		t.Fatalf("%d %s", o.status, o.raw)
	}
	info := fx.introspect(t, o.str("access_token"))
	if info["sub"] != "alice" || info["active"] != true {
		t.Fatalf("%v", info)
	}
	r := fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {o.str("refresh_token")}, "scope": {"read"}})
	if r.status != 200 || r.str("scope") != "read" || r.str("refresh_token") == "" || r.str("refresh_token") == o.str("refresh_token") {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	// The narrowed refresh keeps the original scope for the next one (RFC 6749 §6).
	r2 := fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}})
	if r2.status != 200 || r2.str("scope") != "openid read" || r2.str("id_token") == "" {
		t.Fatalf("second refresh: %d %s", r2.status, r2.raw)
	}
}

func TestPublicClientCodeFlow(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	code, verifier, _ := fx.newCode(t, codeOpts{client: "native", redirect: "http://127.0.0.1:50123/cb"})
	o := fx.exchange(t, "", code, verifier, "http://127.0.0.1:50123/cb", url.Values{"client_id": {"native"}})
	if o.status != 200 {
		t.Fatalf("%d %s", o.status, o.raw)
	}
}

func TestASCODE01_CodeReuseRevokesEverything(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	code, verifier, _ := fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	first := fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	if first.status != 200 {
		t.Fatal(first.raw)
	}
	second := fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	second.wantError(t, 400, "invalid_grant")
	if fx.active(t, first.str("access_token")) {
		t.Error("access token of the first redemption still active")
	}
	if fx.activeFor(t, "web1", first.str("refresh_token")) {
		t.Error("refresh token of the first redemption still active")
	}
	fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}}).
		wantError(t, 400, "invalid_grant")
	if fx.rejections(t, "code_reused") != 1 || fx.auditCount(t, "token.issued") != 1 {
		t.Error("audit: want one reuse and one issuance")
	}
}

func TestCodeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string // SECURITY.md ID
		opts codeOpts
		call func(fx *oauthFixture, code, verifier string) oauthResult
		code string
	}{
		{"AS-CODE-03 other client", codeOpts{client: "web1", redirect: "https://app1.test/cb"},
			func(fx *oauthFixture, c, v string) oauthResult {
				return fx.exchange(t, "", c, v, "https://app1.test/cb", url.Values{"client_id": {"web2"}, "client_secret": {fx.secrets["web2"]}})
			}, "invalid_grant"},
		{"wrong redirect_uri", codeOpts{client: "web1", redirect: "https://app1.test/cb"},
			func(fx *oauthFixture, c, v string) oauthResult {
				return fx.exchange(t, "basic:web1", c, v, "https://app1.test/cb/", nil)
			}, "invalid_grant"},
		{"AS-PKCE-03 verifier missing", codeOpts{client: "web1", redirect: "https://app1.test/cb"},
			func(fx *oauthFixture, c, v string) oauthResult {
				return fx.exchange(t, "basic:web1", c, "", "https://app1.test/cb", nil)
			}, "invalid_grant"},
		{"AS-PKCE-04 wrong verifier", codeOpts{client: "web1", redirect: "https://app1.test/cb"},
			func(fx *oauthFixture, c, v string) oauthResult {
				return fx.exchange(t, "basic:web1", c, strings.Repeat("a", 43), "https://app1.test/cb", nil)
			}, "invalid_grant"},
		{"AS-PKCE-04 short verifier", codeOpts{client: "web1", redirect: "https://app1.test/cb"},
			func(fx *oauthFixture, c, v string) oauthResult {
				return fx.exchange(t, "basic:web1", c, v[:42], "https://app1.test/cb", nil)
			}, "invalid_grant"},
		{"AS-PKCE-04 bad characters", codeOpts{client: "web1", redirect: "https://app1.test/cb"},
			func(fx *oauthFixture, c, v string) oauthResult {
				return fx.exchange(t, "basic:web1", c, v+"+/", "https://app1.test/cb", nil)
			}, "invalid_grant"},
		{"AS-PKCE-02 plain challenge stored", codeOpts{client: "web1", redirect: "https://app1.test/cb", challenge: "plain-value-is-the-verifier-plain-value-is-the"},
			func(fx *oauthFixture, c, v string) oauthResult {
				return fx.exchange(t, "basic:web1", c, "plain-value-is-the-verifier-plain-value-is-the", "https://app1.test/cb", nil)
			}, "invalid_grant"},
		{"AS-CODE-05 expired", codeOpts{client: "web1", redirect: "https://app1.test/cb", expiresIn: -time.Second},
			func(fx *oauthFixture, c, v string) oauthResult {
				return fx.exchange(t, "basic:web1", c, v, "https://app1.test/cb", nil)
			}, "invalid_grant"},
		{"unknown code", codeOpts{client: "web1", redirect: "https://app1.test/cb"},
			func(fx *oauthFixture, c, v string) oauthResult {
				return fx.exchange(t, "basic:web1", c+"x", v, "https://app1.test/cb", nil)
			}, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newOAuthFixture(t, nil)
			code, verifier, _ := fx.newCode(t, tc.opts)
			tc.call(fx, code, verifier).wantError(t, 400, tc.code)
			if n := fx.auditCount(t, "token.issued"); n != 0 {
				t.Errorf("%d issuance events", n)
			}
			if tc.name == "unknown code" {
				return
			}
			// The code is burnt: even the right request fails now.
			fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil).wantError(t, 400, "invalid_grant")
			if n := fx.rows(t, "refresh_tokens"); n != 0 {
				t.Errorf("%d refresh tokens stored", n)
			}
			if n := fx.auditCount(t, "token.issued"); n != 0 {
				t.Errorf("%d issuance events", n)
			}
		})
	}
}

func TestASCODE07_GrantTypeNotAllowed(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	code, verifier, _ := fx.newCode(t, codeOpts{client: "svc", redirect: "https://app1.test/cb"})
	fx.exchange(t, "basic:svc", code, verifier, "https://app1.test/cb", nil).wantError(t, 400, "unauthorized_client")
	fx.call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"spa"}}).
		wantError(t, 400, "unauthorized_client")
	fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}).
		wantError(t, 400, "unsupported_grant_type")
	fx.call(t, "/oauth2/token", "basic:web1", url.Values{}).wantError(t, 400, "invalid_request")
	if n := fx.auditCount(t, "token.issued"); n != 0 {
		t.Fatalf("%d issued", n)
	}
}

func TestASRT01_RefreshReuseRevokesFamily(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	code, verifier, _ := fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	o := fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	rt1 := o.str("refresh_token")
	r := fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	if r.status != 200 {
		t.Fatal(r.raw)
	}
	fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}).
		wantError(t, 400, "invalid_grant")
	fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}}).
		wantError(t, 400, "invalid_grant")
	for _, at := range []string{o.str("access_token"), r.str("access_token")} {
		if fx.active(t, at) {
			t.Error("an access token of the family is still active")
		}
	}
	if fx.rejections(t, "refresh_token_reused") != 1 || fx.auditCount(t, "token.issued") != 2 {
		t.Error("audit: want one reuse event and two issuances")
	}
}

func TestASRT03_RefreshTokenOfAnotherClient(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	code, verifier, _ := fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	rt := fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil).str("refresh_token")
	fx.call(t, "/oauth2/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {"web2"}, "client_secret": {fx.secrets["web2"]}}).wantError(t, 400, "invalid_grant")
	// Documented choice: treated as theft, web1's family is revoked.
	fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}).
		wantError(t, 400, "invalid_grant")
	if n := fx.auditCount(t, "token.issued"); n != 1 {
		t.Fatalf("%d issued, want only the code exchange", n)
	}
}

func TestASRT04_RefreshScopeEscalation(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	code, verifier, _ := fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb", scopes: []string{"read"}})
	rt := fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil).str("refresh_token")
	fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"read write"}}).
		wantError(t, 400, "invalid_scope")
	// Refused before rotation: the token still works.
	if o := fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); o.status != 200 {
		t.Fatal(o.raw)
	}
}

// TestASRT07_RefreshedIDTokenKeepsSubjectAndAuthTime also checks acr and amr: the
// refreshed ID and access tokens describe the original login (OIDC Core §12.2), on
// the second rotation as on the first.
func TestASRT07_RefreshedIDTokenKeepsSubjectAndAuthTime(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	code, verifier, _ := fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	o := fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	r := fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {o.str("refresh_token")}})
	r2 := fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}})
	claims := func(raw, typ string) map[string]any {
		var m map[string]any
		must(t, fx.km.Verify(t.Context(), raw, typ, &m))
		return m
	}
	a := claims(o.str("id_token"), "JWT")
	if a["nonce"] != "n-123" || a["at_hash"] == nil || a["acr"] != "urn:gatehouse:loa:1" || fmt.Sprint(a["amr"]) != "[pwd]" {
		t.Errorf("first ID token: %v", a)
	}
	for i, res := range []oauthResult{r, r2} {
		b := claims(res.str("id_token"), "JWT")
		for _, k := range []string{"iss", "sub", "aud", "auth_time", "azp", "acr", "amr"} {
			if a[k] == nil || fmt.Sprint(a[k]) != fmt.Sprint(b[k]) {
				t.Errorf("refresh %d: ID token %s: %v then %v", i+1, k, a[k], b[k])
			}
		}
		if b["nonce"] != nil {
			t.Errorf("refresh %d: nonce %v", i+1, b["nonce"])
		}
		at := claims(res.str("access_token"), "at+jwt")
		for _, k := range []string{"auth_time", "acr", "amr"} {
			if fmt.Sprint(at[k]) != fmt.Sprint(a[k]) {
				t.Errorf("refresh %d: access token %s = %v, want %v", i+1, k, at[k], a[k])
			}
		}
	}
}

func TestRevokeTokensForConsentAndSession(t *testing.T) {
	fx := newOAuthFixture(t, nil)
	code, verifier, _ := fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	o := fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	time.Sleep(time.Second) // tokens carry whole-second iat; the revocation must come after it
	must(t, fx.oauth.RevokeTokens(t.Context(), storeFilter("alice", "web1", "")))
	// DATA-10: immediately inactive, and the refresh token refused.
	if fx.active(t, o.str("access_token")) || fx.activeFor(t, "web1", o.str("refresh_token")) {
		t.Fatal("consent revocation left a token active")
	}
	code, verifier, _ = fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	o = fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	time.Sleep(time.Second)
	must(t, fx.oauth.RevokeTokens(t.Context(), storeFilter("", "", "sess-1")))
	if fx.active(t, o.str("access_token")) {
		t.Fatal("session end left the access token active")
	}
	fx.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {o.str("refresh_token")}}).
		wantError(t, http.StatusBadRequest, "invalid_grant")
}
