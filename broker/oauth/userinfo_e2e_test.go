package oauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestUserInfoRefusals: RFC 6750 §3 answers — no token (401, no error code), a
// bad or foreign token (401 invalid_token), a token in the query (AS-JWT-08, 400),
// a token without openid (403 insufficient_scope), a token after its session
// ended (revoked; 401). GET and POST work with the header.
func TestUserInfoRefusals(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid profile notes.read")
	_, tok := e.Redeem("web", e.Code(b, q).Get("code"), q.Verifier, brokertest.AppCB)
	at := tok["access_token"].(string)
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if res := e.UserinfoCall(m, "/oauth2/userinfo", "Bearer "+at); res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d", m, res.StatusCode)
		}
	}
	q2 := brokertest.NewAuthzReq("web", brokertest.AppCB, "notes.read")
	_, tok2 := e.Redeem("web", e.Code(b, q2).Get("code"), q2.Verifier, brokertest.AppCB)
	parts := strings.Split(at, ".")
	for name, c := range map[string]struct {
		path, auth string
		status     int
		code       string
	}{
		"no token":       {"/oauth2/userinfo", "", 401, ""},
		"query token":    {"/oauth2/userinfo?access_token=" + url.QueryEscape(at), "", 400, "invalid_request"},
		"basic scheme":   {"/oauth2/userinfo", "Basic eDp5", 400, "invalid_request"},
		"garbage":        {"/oauth2/userinfo", "Bearer abc", 401, "invalid_token"},
		"alg none":       {"/oauth2/userinfo", "Bearer eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + ".", 401, "invalid_token"},
		"bad signature":  {"/oauth2/userinfo", "Bearer " + parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), 401, "invalid_token"},
		"10 MB token":    {"/oauth2/userinfo", "Bearer " + strings.Repeat("a.", 4<<10), 401, "invalid_token"},
		"no openid":      {"/oauth2/userinfo", "Bearer " + tok2["access_token"].(string), 401, "invalid_token"},
		"id token as AT": {"/oauth2/userinfo", "Bearer " + tok["id_token"].(string), 401, "invalid_token"},
	} {
		t.Run(name, func(t *testing.T) {
			res := e.UserinfoCall(http.MethodGet, c.path, c.auth)
			wa := res.Header.Get("WWW-Authenticate")
			if res.StatusCode != c.status || !strings.HasPrefix(wa, "Bearer ") || (c.code != "" && !strings.Contains(wa, `error="`+c.code+`"`)) ||
				(c.code == "" && strings.Contains(wa, "error=")) {
				t.Fatalf("%d %q", res.StatusCode, wa)
			}
		})
	}
	// Ending the session revokes what it issued.
	_, page := e.Follow(b, e.Get(b, "/logout"))
	e.PostForm(b, "/logout", brokertest.FormFields(t, page, "/logout")).Body.Close()
	if res := e.UserinfoCall(http.MethodGet, "/oauth2/userinfo", "Bearer "+at); res.StatusCode != 401 {
		t.Fatalf("after logout: %d", res.StatusCode)
	}
	if st, out := e.Refresh("web", tok["refresh_token"].(string)); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("refresh after logout: %d %v", st, out)
	}
}

// TestRPInitiatedLogout: OIDC RP-Initiated Logout — an unregistered
// post_logout_redirect_uri is a page (no redirect); a registered one, after the
// person confirms, ends the session, revokes its tokens and returns with state.
// A GET alone signs nobody out.
func TestRPInitiatedLogout(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	_, tok := e.Redeem("web", e.Code(b, q).Get("code"), q.Verifier, brokertest.AppCB)
	idt := tok["id_token"].(string)
	for name, v := range map[string]url.Values{
		"unregistered":       {"client_id": {"web"}, "post_logout_redirect_uri": {"https://evil.test/bye"}},
		"no client":          {"post_logout_redirect_uri": {"https://app.test/bye"}},
		"other client's":     {"client_id": {"web2"}, "post_logout_redirect_uri": {"https://app.test/bye"}},
		"hint/client differ": {"client_id": {"web2"}, "id_token_hint": {idt}, "post_logout_redirect_uri": {"https://app.test/bye"}},
		"forged hint":        {"id_token_hint": {idt + "x"}, "post_logout_redirect_uri": {"https://app.test/bye"}},
	} {
		res := e.Get(b, "/oauth2/logout?"+v.Encode())
		res.Body.Close()
		if res.StatusCode != 400 || res.Header.Get("Location") != "" {
			t.Errorf("%s: %d %s", name, res.StatusCode, res.Header.Get("Location"))
		}
	}
	v := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://app.test/bye"}, "state": {"s1"}}
	res, page := e.Follow(b, e.Get(b, "/oauth2/logout?"+v.Encode()))
	if res.StatusCode != 200 || !strings.Contains(page, `data-testid="rp-logout"`) || e.Sessions() != 1 {
		t.Fatalf("confirmation: %d %d\n%s", res.StatusCode, e.Sessions(), page)
	}
	// The OP's logout comes between (TestRPInitiatedLogoutUpstream).
	o := e.Drive(b, e.PostForm(b, "/oauth2/logout/confirm", brokertest.FormFields(t, page, "/oauth2/logout/confirm")))
	if o.App == nil || o.App.String() != "https://app.test/bye?state=s1" || e.Sessions() != 0 {
		t.Fatalf("confirm: %d %v sessions %d", o.Status, o.App, e.Sessions())
	}
	if st, _ := e.Refresh("web", tok["refresh_token"].(string)); st != 400 {
		t.Fatalf("refresh token survived logout: %d", st)
	}
}

// TestUserInfoAuthorizationHeader: more than one Authorization header is 400
// invalid_request with no claims (RFC 6750 §3.1), even when both carry the same
// good token; "Bearer" followed by more than one space is accepted (RFC 6750 §2.1:
// "Bearer" 1*SP b64token).
func TestUserInfoAuthorizationHeader(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	at := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil).Str("access_token")
	userinfo := func(headers ...string) (*http.Response, string) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/oauth2/userinfo", nil)
		for _, h := range headers {
			r.Header.Add("Authorization", h)
		}
		res := fx.Do(r)
		return res, brokertest.Body(t, res)
	}
	for name, headers := range map[string][]string{
		"the same token twice": {"Bearer " + at, "Bearer " + at},
		"a bad second token":   {"Bearer " + at, "Bearer abc"},
		"an empty second":      {"Bearer " + at, ""},
		"Basic second":         {"Bearer " + at, "Basic eDp5"},
	} {
		res, raw := userinfo(headers...)
		if res.StatusCode != 400 || !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_request"`) || strings.Contains(raw, "alice") {
			t.Errorf("%s: %d %q %s", name, res.StatusCode, res.Header.Get("WWW-Authenticate"), raw)
		}
	}
	for _, sp := range []string{" ", "  ", "    "} {
		if res, raw := userinfo("Bearer" + sp + at); res.StatusCode != 200 || !strings.Contains(raw, `"sub":"alice"`) {
			t.Errorf("Bearer and %d spaces: %d %s", len(sp), res.StatusCode, raw)
		}
	}
}
