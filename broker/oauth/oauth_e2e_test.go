package oauth_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

func TestClientCredentialsIssuesScopedJWT(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	o := fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}, "scope": {"read admin"}})
	if o.Status != 200 || o.Str("token_type") != "Bearer" || o.Str("scope") != "read" {
		t.Fatalf("%d %s", o.Status, o.Raw)
	}
	if o.Header.Get("Cache-Control") != "no-store" || o.Header.Get("Pragma") != "no-cache" {
		t.Errorf("AS-META-02: headers %v", o.Header)
	}
	info := fx.Introspect(t, o.Str("access_token"))
	if info["active"] != true || info["sub"] != "svc" || info["client_id"] != "svc" || info["scope"] != "read" {
		t.Fatalf("introspection %v", info)
	}
	if fx.AuditCount(t, "token.issued") != 1 {
		t.Fatal("issuance not audited")
	}
}

func TestASRT08_ClientCredentialsHasNoRefreshToken(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	o := fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}})
	if _, ok := o.Body["refresh_token"]; ok || o.Status != 200 || o.Str("scope") != "read write" {
		t.Fatalf("%s", o.Raw)
	}
}

func TestASDEL05_ClientCredentialsScopeAndTarget(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}).
		WantError(t, 400, "invalid_scope")
	fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}, "resource": {brokertest.RS2}}).
		WantError(t, 400, "invalid_target")
	fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}, "resource": {"https://unknown.test"}}).
		WantError(t, 400, "invalid_target")
	fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}, "resource": {brokertest.RS1, brokertest.RS1 + "/x"}}).
		WantError(t, 400, "invalid_target")
	if n := fx.AuditCount(t, "token.issued"); n != 0 {
		t.Fatalf("%d issuance events", n)
	}
}

func TestAuthorizationCodeFlowAndRefresh(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	o := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	if o.Status != 200 || o.Str("refresh_token") == "" || o.Str("id_token") == "" || o.Str("scope") != "openid read" {
		t.Fatalf("%d %s", o.Status, o.Raw)
	}
	info := fx.Introspect(t, o.Str("access_token"))
	if info["sub"] != "alice" || info["active"] != true {
		t.Fatalf("%v", info)
	}
	r := fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {o.Str("refresh_token")}, "scope": {"read"}})
	if r.Status != 200 || r.Str("scope") != "read" || r.Str("refresh_token") == "" || r.Str("refresh_token") == o.Str("refresh_token") {
		t.Fatalf("refresh: %d %s", r.Status, r.Raw)
	}
	// The narrowed refresh keeps the original scope for the next one (RFC 6749 §6).
	r2 := fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Str("refresh_token")}})
	if r2.Status != 200 || r2.Str("scope") != "openid read" || r2.Str("id_token") == "" {
		t.Fatalf("second refresh: %d %s", r2.Status, r2.Raw)
	}
}

func TestPublicClientCodeFlow(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "native", Redirect: "http://127.0.0.1:50123/cb"})
	o := fx.Exchange(t, "", code, verifier, "http://127.0.0.1:50123/cb", url.Values{"client_id": {"native"}})
	if o.Status != 200 {
		t.Fatalf("%d %s", o.Status, o.Raw)
	}
}

func TestASCODE01_CodeReuseRevokesEverything(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	first := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	if first.Status != 200 {
		t.Fatal(first.Raw)
	}
	second := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	second.WantError(t, 400, "invalid_grant")
	if fx.Active(t, first.Str("access_token")) {
		t.Error("access token of the first redemption still active")
	}
	if fx.ActiveFor(t, "web1", first.Str("refresh_token")) {
		t.Error("refresh token of the first redemption still active")
	}
	fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Str("refresh_token")}}).
		WantError(t, 400, "invalid_grant")
	if fx.Rejections(t, "code_reused") != 1 || fx.AuditCount(t, "token.issued") != 1 {
		t.Error("audit: want one reuse and one issuance")
	}
}

func TestCodeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string // SECURITY.md ID
		opts brokertest.CodeOpts
		call func(fx *brokertest.OAuthFixture, code, verifier string) brokertest.Result
		code string
	}{
		{"AS-CODE-03 other client", brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"},
			func(fx *brokertest.OAuthFixture, c, v string) brokertest.Result {
				return fx.Exchange(t, "", c, v, "https://app1.test/cb", url.Values{"client_id": {"web2"}, "client_secret": {fx.Secrets["web2"]}})
			}, "invalid_grant"},
		{"wrong redirect_uri", brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"},
			func(fx *brokertest.OAuthFixture, c, v string) brokertest.Result {
				return fx.Exchange(t, "basic:web1", c, v, "https://app1.test/cb/", nil)
			}, "invalid_grant"},
		{"AS-PKCE-03 verifier missing", brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"},
			func(fx *brokertest.OAuthFixture, c, v string) brokertest.Result {
				return fx.Exchange(t, "basic:web1", c, "", "https://app1.test/cb", nil)
			}, "invalid_grant"},
		{"AS-PKCE-04 wrong verifier", brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"},
			func(fx *brokertest.OAuthFixture, c, v string) brokertest.Result {
				return fx.Exchange(t, "basic:web1", c, strings.Repeat("a", 43), "https://app1.test/cb", nil)
			}, "invalid_grant"},
		{"AS-PKCE-04 short verifier", brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"},
			func(fx *brokertest.OAuthFixture, c, v string) brokertest.Result {
				return fx.Exchange(t, "basic:web1", c, v[:42], "https://app1.test/cb", nil)
			}, "invalid_grant"},
		{"AS-PKCE-04 bad characters", brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"},
			func(fx *brokertest.OAuthFixture, c, v string) brokertest.Result {
				return fx.Exchange(t, "basic:web1", c, v+"+/", "https://app1.test/cb", nil)
			}, "invalid_grant"},
		{"AS-PKCE-02 plain challenge stored", brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb", Challenge: "plain-value-is-the-verifier-plain-value-is-the"},
			func(fx *brokertest.OAuthFixture, c, v string) brokertest.Result {
				return fx.Exchange(t, "basic:web1", c, "plain-value-is-the-verifier-plain-value-is-the", "https://app1.test/cb", nil)
			}, "invalid_grant"},
		{"AS-CODE-05 expired", brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb", ExpiresIn: -time.Second},
			func(fx *brokertest.OAuthFixture, c, v string) brokertest.Result {
				return fx.Exchange(t, "basic:web1", c, v, "https://app1.test/cb", nil)
			}, "invalid_grant"},
		{"unknown code", brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"},
			func(fx *brokertest.OAuthFixture, c, v string) brokertest.Result {
				return fx.Exchange(t, "basic:web1", c+"x", v, "https://app1.test/cb", nil)
			}, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := brokertest.NewOAuthFixture(t, nil)
			code, verifier, _ := fx.NewCode(t, tc.opts)
			tc.call(fx, code, verifier).WantError(t, 400, tc.code)
			if n := fx.AuditCount(t, "token.issued"); n != 0 {
				t.Errorf("%d issuance events", n)
			}
			if tc.name == "unknown code" {
				return
			}
			// The code is burnt: even the right request fails now.
			fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil).WantError(t, 400, "invalid_grant")
			if n := fx.Rows(t, "refresh_tokens"); n != 0 {
				t.Errorf("%d refresh tokens stored", n)
			}
			if n := fx.AuditCount(t, "token.issued"); n != 0 {
				t.Errorf("%d issuance events", n)
			}
		})
	}
}

func TestASCODE07_GrantTypeNotAllowed(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "svc", Redirect: "https://app1.test/cb"})
	fx.Exchange(t, "basic:svc", code, verifier, "https://app1.test/cb", nil).WantError(t, 400, "unauthorized_client")
	fx.Call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"spa"}}).
		WantError(t, 400, "unauthorized_client")
	fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}).
		WantError(t, 400, "unsupported_grant_type")
	fx.Call(t, "/oauth2/token", "basic:web1", url.Values{}).WantError(t, 400, "invalid_request")
	if n := fx.AuditCount(t, "token.issued"); n != 0 {
		t.Fatalf("%d issued", n)
	}
}

func TestASRT01_RefreshReuseRevokesFamily(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	o := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	rt1 := o.Str("refresh_token")
	r := fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	if r.Status != 200 {
		t.Fatal(r.Raw)
	}
	fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}).
		WantError(t, 400, "invalid_grant")
	fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Str("refresh_token")}}).
		WantError(t, 400, "invalid_grant")
	for _, at := range []string{o.Str("access_token"), r.Str("access_token")} {
		if fx.Active(t, at) {
			t.Error("an access token of the family is still active")
		}
	}
	if fx.Rejections(t, "refresh_token_reused") != 1 || fx.AuditCount(t, "token.issued") != 2 {
		t.Error("audit: want one reuse event and two issuances")
	}
}

func TestASRT03_RefreshTokenOfAnotherClient(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	rt := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil).Str("refresh_token")
	fx.Call(t, "/oauth2/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {"web2"}, "client_secret": {fx.Secrets["web2"]}}).WantError(t, 400, "invalid_grant")
	// Documented choice: treated as theft, web1's family is revoked.
	fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}).
		WantError(t, 400, "invalid_grant")
	if n := fx.AuditCount(t, "token.issued"); n != 1 {
		t.Fatalf("%d issued, want only the code exchange", n)
	}
}

func TestASRT04_RefreshScopeEscalation(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb", Scopes: []string{"read"}})
	rt := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil).Str("refresh_token")
	fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"read write"}}).
		WantError(t, 400, "invalid_scope")
	// Refused before rotation: the token still works.
	if o := fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); o.Status != 200 {
		t.Fatal(o.Raw)
	}
}

// TestASRT07_RefreshedIDTokenKeepsSubjectAndAuthTime also checks acr and amr: the
// refreshed ID and access tokens describe the original login (OIDC Core §12.2), on
// the second rotation as on the first.
func TestASRT07_RefreshedIDTokenKeepsSubjectAndAuthTime(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	o := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	r := fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {o.Str("refresh_token")}})
	r2 := fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Str("refresh_token")}})
	claims := func(raw, typ string) map[string]any {
		var m map[string]any
		brokertest.Must(t, fx.KM.Verify(t.Context(), raw, typ, &m))
		return m
	}
	a := claims(o.Str("id_token"), "JWT")
	if a["nonce"] != "n-123" || a["at_hash"] == nil || a["acr"] != "urn:gatehouse:loa:1" || fmt.Sprint(a["amr"]) != "[pwd]" {
		t.Errorf("first ID token: %v", a)
	}
	for i, res := range []brokertest.Result{r, r2} {
		b := claims(res.Str("id_token"), "JWT")
		for _, k := range []string{"iss", "sub", "aud", "auth_time", "azp", "acr", "amr"} {
			if a[k] == nil || fmt.Sprint(a[k]) != fmt.Sprint(b[k]) {
				t.Errorf("refresh %d: ID token %s: %v then %v", i+1, k, a[k], b[k])
			}
		}
		if b["nonce"] != nil {
			t.Errorf("refresh %d: nonce %v", i+1, b["nonce"])
		}
		at := claims(res.Str("access_token"), "at+jwt")
		for _, k := range []string{"auth_time", "acr", "amr"} {
			if fmt.Sprint(at[k]) != fmt.Sprint(a[k]) {
				t.Errorf("refresh %d: access token %s = %v, want %v", i+1, k, at[k], a[k])
			}
		}
	}
}

func TestRevokeTokensForConsentAndSession(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	o := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	time.Sleep(time.Second) // tokens carry whole-second iat; the revocation brokertest.Must come after it
	brokertest.Must(t, fx.OAuth().RevokeTokens(t.Context(), store.RefreshFilter{UserID: "alice", ClientID: "web1"}))
	// DATA-10: immediately inactive, and the refresh token refused.
	if fx.Active(t, o.Str("access_token")) || fx.ActiveFor(t, "web1", o.Str("refresh_token")) {
		t.Fatal("consent revocation left a token active")
	}
	code, verifier, _ = fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	o = fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	time.Sleep(time.Second)
	_, err := revoke.Sessions(t.Context(), fx.DB, []string{"sess-1"}, fx.Now(), fx.Cfg.AccessTokenTTL)
	brokertest.Must(t, err)
	if fx.Active(t, o.Str("access_token")) {
		t.Fatal("session end left the access token active")
	}
	fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {o.Str("refresh_token")}}).
		WantError(t, http.StatusBadRequest, "invalid_grant")
}
