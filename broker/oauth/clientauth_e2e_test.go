package oauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestClientAuthRefusesTwoAuthorizationHeaders: a token, introspection or
// revocation request with more than one Authorization header is 400
// invalid_request (RFC 6749 §2.3, §5.2: one set of credentials per request) —
// even when both carry the right credentials — and nothing is issued, redeemed,
// revealed or revoked.
func TestClientAuthRefusesTwoAuthorizationHeaders(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	basic := func(id string) string {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(fx.Secrets[id]))
		return r.Header.Get("Authorization")
	}
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	at := fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	issuedBefore := fx.AuditCount(t, "token.issued")
	redeem := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {"https://app1.test/cb"}}
	for _, req := range []struct {
		path string
		form url.Values
	}{
		{"/oauth2/token", redeem},
		{"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}},
		{"/oauth2/introspect", url.Values{"token": {at}}},
		{"/oauth2/revoke", url.Values{"token": {at}}},
	} {
		owner := "web1"
		if req.path != "/oauth2/token" || req.form.Get("grant_type") == "client_credentials" {
			owner = "svc"
		}
		for name, headers := range map[string][]string{
			"the same credentials twice": {basic(owner), basic(owner)},
			"another client's second":    {basic(owner), basic("web2")},
			"Basic and Bearer":           {basic(owner), "Bearer " + at},
			"an empty second":            {basic(owner), ""},
		} {
			t.Run(req.path+" "+req.form.Get("grant_type")+" "+name, func(t *testing.T) {
				r := httptest.NewRequest(http.MethodPost, req.path, strings.NewReader(req.form.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for _, h := range headers {
					r.Header.Add("Authorization", h)
				}
				res := fx.Do(r)
				raw := brokertest.Body(t, res)
				if res.StatusCode != 400 || !strings.Contains(raw, `"error":"invalid_request"`) ||
					strings.Contains(raw, "token\"") || strings.Contains(raw, "active") {
					t.Fatalf("%d %s", res.StatusCode, raw)
				}
			})
		}
	}
	if n := fx.AuditCount(t, "token.issued"); n != issuedBefore {
		t.Errorf("%d tokens issued", n-issuedBefore)
	}
	if n := fx.Rows(t, "refresh_tokens"); n != 0 {
		t.Errorf("%d refresh tokens stored", n)
	}
	if n := fx.Rejections(t, "duplicate_authorization"); n != 16 {
		t.Errorf("%d refusals audited, want 16", n)
	}
	// Nothing was redeemed or revoked: with one header each works.
	if !fx.Active(t, at) {
		t.Error("the access token was revoked")
	}
	if o := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil); o.Status != 200 {
		t.Errorf("the code was used up: %d %s", o.Status, o.Raw)
	}
}
