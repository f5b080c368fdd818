package oauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestASDEL01_ScopeTheClientIsNotRegisteredFor: a client asking for a scope it
// is not registered for never gets it. Gatehouse drops it and reports the
// granted scope (RFC 6749 §3.3) when something else can be granted, and answers
// invalid_scope when nothing can: for client_credentials, and for an
// authorization, where the consent page does not even show it.
func TestASDEL01_ScopeTheClientIsNotRegisteredFor(t *testing.T) {
	t.Parallel()
	fx := brokertest.NewOAuthFixture(t, nil)
	cc := func(scope string) brokertest.Result {
		return fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
	}
	o := cc("read admin") // svc may have read and write; the API also has admin
	if o.Status != 200 || o.Str("scope") != "read" {
		t.Fatalf("read admin: %d %s, want read only", o.Status, o.Raw)
	}
	var cl token.AccessClaims
	brokertest.Must(t, fx.KM.Verify(t.Context(), o.Str("access_token"), token.TypeAccess, &cl))
	if cl.Scope != "read" {
		t.Errorf("token scope %q", cl.Scope)
	}
	before := fx.AuditCount(t, "token.issued")
	cc("admin").WantError(t, http.StatusBadRequest, "invalid_scope")
	if fx.AuditCount(t, "token.issued") != before {
		t.Error("a token was issued for a scope the client is not registered for")
	}

	e := brokertest.NewAuthzEnv(t, func(c *store.Client) {
		c.Scopes = slices.DeleteFunc(c.Scopes, func(s string) bool { return s == "admin" })
	})
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read admin")
	o2 := e.Start(b, q)
	if strings.Contains(o2.Page, `data-testid="consent-scope-admin"`) {
		t.Fatalf("the consent page offers a scope the client is not registered for:\n%s", o2.Page)
	}
	_, tok := e.Redeem("web", e.Code(b, q).Get("code"), q.Verifier, brokertest.AppCB)
	if got := token.ParseScope(tok["scope"].(string)); slices.Contains(got, "admin") || !slices.Contains(got, "notes.read") {
		t.Fatalf("granted %v", got)
	}
}

// TestASDEL06_AnAccessTokenIsForItsAudience: a token issued for one API is
// nothing at another: its resource server learns nothing at introspection,
// Gatehouse's UserInfo refuses it (its aud is not Gatehouse: no openid), and it
// is no credential at the token endpoint, where clients authenticate as
// themselves (a bearer access token there is invalid_client, for token exchange
// too). Nothing is issued.
func TestASDEL06_AnAccessTokenIsForItsAudience(t *testing.T) {
	t.Parallel()
	fx := brokertest.NewOAuthFixture(t, nil)
	at := fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	if at == "" {
		t.Fatal("no token")
	}
	if !fx.ActiveFor(t, "rs1", at) {
		t.Fatal("the API's own resource server finds it inactive")
	}
	if fx.ActiveFor(t, "rs2", at) {
		t.Error("another API's resource server learns the token is active")
	}
	req := httptest.NewRequest(http.MethodGet, "/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	res := fx.Do(req)
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("userinfo with an API's token: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
	before := fx.AuditCount(t, "token.issued") + fx.AuditCount(t, "token.exchanged")
	for name, v := range map[string]url.Values{
		"client_credentials": {"grant_type": {"client_credentials"}},
		"token exchange": {"grant_type": {registry.GrantTokenExchange}, "subject_token": {at},
			"subject_token_type": {registry.TokenTypeAccessToken}},
	} {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+at)
		res := fx.Do(req)
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s with the access token as the credential: %d, want 401 invalid_client", name, res.StatusCode)
		}
	}
	if after := fx.AuditCount(t, "token.issued") + fx.AuditCount(t, "token.exchanged"); after != before {
		t.Errorf("%d tokens issued to a bearer access token", after-before)
	}
}
