package oauth_test

import (
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store/pgtest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestScaleOutTwoReplicas: two servers with their own key managers on one
// PostgreSQL behave as one.
func TestScaleOutTwoReplicas(t *testing.T) {
	dbURL := pgtest.URL(t)
	a := brokertest.NewOAuthFixture(t, map[string]string{"test-database-url": dbURL})
	b := &brokertest.OAuthFixture{TestServer: brokertest.NewTestServer(t, "https://gatehouse.test", map[string]string{"test-database-url": dbURL}, nil), Secrets: a.Secrets}

	// A code issued for replica a redeems exactly once across both, raced.
	code, verifier, _ := a.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	var wg sync.WaitGroup
	results := make([]brokertest.Result, 2)
	for i, fx := range []*brokertest.OAuthFixture{a, b} {
		wg.Go(func() { results[i] = fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil) })
	}
	wg.Wait()
	ok := 0
	var rt string
	for _, r := range results {
		if r.Status == 200 {
			ok++
			rt = r.Str("refresh_token")
		}
	}
	if ok != 1 {
		t.Fatalf("%d successful redemptions across replicas", ok)
	}
	// The loser's reuse revoked what the winner issued.
	if a.ActiveFor(t, "web1", rt) || b.ActiveFor(t, "web1", rt) {
		t.Fatal("tokens of a reused code still active")
	}

	// Refresh rotation and reuse detection across replicas.
	code, verifier, _ = a.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	rt1 := a.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil).Str("refresh_token")
	r2 := b.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	if r2.Status != 200 {
		t.Fatal(r2.Raw)
	}
	a.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}).WantError(t, 400, "invalid_grant")
	b.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r2.Str("refresh_token")}}).WantError(t, 400, "invalid_grant")

	// A key rotated on a is served by b after its refresh; tokens from a verify on b.
	ks, err := a.KM.Rotate(t.Context())
	brokertest.Must(t, err)
	brokertest.Must(t, b.KM.Refresh(t.Context()))
	jwks, err := b.KM.JWKS(t.Context())
	brokertest.Must(t, err)
	for _, k := range ks {
		if !strings.Contains(string(jwks), k.ID) {
			t.Fatalf("replica b does not publish the %s key rotated on a", k.Algorithm)
		}
	}
	at := a.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	if !b.Active(t, at) {
		t.Fatal("a token minted on a is not active on b")
	}
}
