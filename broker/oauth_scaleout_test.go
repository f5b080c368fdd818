package broker

import (
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store/pgtest"
)

// TestScaleOutTwoReplicas: two servers with their own key managers on one
// PostgreSQL behave as one.
func TestScaleOutTwoReplicas(t *testing.T) {
	dbURL := pgtest.URL(t)
	a := newOAuthFixture(t, map[string]string{"test-database-url": dbURL})
	b := &oauthFixture{testServer: newTestServer(t, "https://gatehouse.test", map[string]string{"test-database-url": dbURL}, nil), secrets: a.secrets}

	// A code issued for replica a redeems exactly once across both, raced.
	code, verifier, _ := a.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	var wg sync.WaitGroup
	results := make([]oauthResult, 2)
	for i, fx := range []*oauthFixture{a, b} {
		wg.Go(func() { results[i] = fx.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil) })
	}
	wg.Wait()
	ok := 0
	var rt string
	for _, r := range results {
		if r.status == 200 {
			ok++
			rt = r.str("refresh_token")
		}
	}
	if ok != 1 {
		t.Fatalf("%d successful redemptions across replicas", ok)
	}
	// The loser's reuse revoked what the winner issued.
	if a.activeFor(t, "web1", rt) || b.activeFor(t, "web1", rt) {
		t.Fatal("tokens of a reused code still active")
	}

	// Refresh rotation and reuse detection across replicas.
	code, verifier, _ = a.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	rt1 := a.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil).str("refresh_token")
	r2 := b.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	if r2.status != 200 {
		t.Fatal(r2.raw)
	}
	a.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}).wantError(t, 400, "invalid_grant")
	b.call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r2.str("refresh_token")}}).wantError(t, 400, "invalid_grant")

	// A key rotated on a is served by b after its refresh; tokens from a verify on b.
	ks, err := a.km.Rotate(t.Context())
	must(t, err)
	must(t, b.km.Refresh(t.Context()))
	jwks, err := b.km.JWKS(t.Context())
	must(t, err)
	for _, k := range ks {
		if !strings.Contains(string(jwks), k.ID) {
			t.Fatalf("replica b does not publish the %s key rotated on a", k.Algorithm)
		}
	}
	at := a.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).str("access_token")
	if !b.active(t, at) {
		t.Fatal("a token minted on a is not active on b")
	}
}
