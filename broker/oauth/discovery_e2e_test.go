package oauth_test

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestOfflineAccess: discovery lists offline_access (OIDC Core §11, Discovery §3),
// and it works as listed: a client registered for it that asks for it gets the
// person's consent for it, the scope in the token response and a refresh token
// (issued as for any client with the refresh_token grant), and the refresh keeps
// it. A client not registered for it does not get it.
func TestOfflineAccess(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t, func(c *store.Client) {
		if c.ID == "web" {
			c.Scopes = slices.Concat(c.Scopes, []string{"offline_access"})
		}
	})
	res, doc := e.Follow(e.TS.Client(), e.Get(e.TS.Client(), "/.well-known/openid-configuration"))
	var d struct {
		Scopes []string `json:"scopes_supported"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil || res.StatusCode != 200 {
		t.Fatalf("discovery: %d %v", res.StatusCode, err)
	}
	for _, sc := range token.IdentityScopes {
		if !slices.Contains(d.Scopes, sc) {
			t.Errorf("scopes_supported %v lacks %s", d.Scopes, sc)
		}
	}

	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid offline_access notes.read")
	o := e.Start(b, q)
	if !strings.Contains(o.Page, `data-testid="consent-scope-offline_access"`) {
		t.Fatalf("offline_access not on the consent page (Core §11: consent is obtained):\n%s", o.Page)
	}
	o = e.Decide(b, o.Page, "approve")
	st, tok := e.Redeem("web", o.Fields.Get("code"), q.Verifier, brokertest.AppCB)
	rt, _ := tok["refresh_token"].(string)
	if st != 200 || !slices.Contains(token.ParseScope(tok["scope"].(string)), "offline_access") || rt == "" {
		t.Fatalf("redeem: %d %v", st, tok)
	}
	st, tok = e.Refresh("web", rt)
	if st != 200 || !slices.Contains(token.ParseScope(tok["scope"].(string)), "offline_access") || tok["refresh_token"] == nil {
		t.Fatalf("refresh: %d %v", st, tok)
	}

	// web2 is not registered for offline_access: the scope is dropped (RFC 6749 §3.3).
	q2 := brokertest.NewAuthzReq("web2", "https://app2.test/cb", "openid offline_access notes.read")
	st, tok = e.Redeem("web2", e.Code(b, q2).Get("code"), q2.Verifier, "https://app2.test/cb")
	if st != 200 || slices.Contains(token.ParseScope(tok["scope"].(string)), "offline_access") {
		t.Fatalf("web2: %d %v", st, tok)
	}
}

// TestDiscoveryListsTokenExchange: both metadata documents list the RFC 8693 grant
// in grant_types_supported (RFC 8414 §2), so clients can find it.
func TestDiscoveryListsTokenExchange(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		var d struct {
			GrantTypes []string `json:"grant_types_supported"`
		}
		brokertest.Must(t, json.Unmarshal([]byte(brokertest.Body(t, fx.Do(httptest.NewRequest("GET", path, nil)))), &d))
		if !slices.Contains(d.GrantTypes, registry.GrantTokenExchange) {
			t.Errorf("%s: grant_types_supported %v lacks %s", path, d.GrantTypes, registry.GrantTokenExchange)
		}
	}
}
