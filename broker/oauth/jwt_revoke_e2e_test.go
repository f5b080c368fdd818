package oauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// revokeEnv is two replicas on one database, with tokens both signed before a
// key revocation: an access token of client_credentials, and the access and ID
// tokens of a code exchange.
type revokeEnv struct {
	a, b                  *brokertest.OAuthFixture
	svcAT, userAT, idTok  string
	serverKID, idTokenKID string
}

func newRevokeEnv(t *testing.T) *revokeEnv {
	a := brokertest.NewOAuthFixture(t, nil)
	// Replica b shares a's database and has its own key cache.
	b := &brokertest.OAuthFixture{TestServer: brokertest.NewTestServer(t, "https://gatehouse.test", map[string]string{"test-database-url": "sqlite:" + a.DBPath}, nil),
		Secrets: a.Secrets}
	e := &revokeEnv{a: a, b: b}
	e.svcAT = a.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	code, verifier, _ := a.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	r := a.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	e.userAT, e.idTok = r.Str("access_token"), r.Str("id_token")
	e.serverKID, e.idTokenKID = kidOf(t, e.svcAT), kidOf(t, e.idTok)
	for _, fx := range []*brokertest.OAuthFixture{a, b} {
		if !fx.Active(t, e.svcAT) || !fx.Active(t, e.userAT) || userinfo(fx, t, e.userAT) != http.StatusOK {
			t.Fatal("tokens not valid on both replicas before the revocation: the test proves nothing")
		}
		if _, ok := fx.OAuth().IDTokenHint(context.Background(), e.idTok); !ok {
			t.Fatal("ID token not a valid hint before the revocation")
		}
	}
	return e
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	return header(t, tok).KeyID
}

func userinfo(fx *brokertest.OAuthFixture, t *testing.T, at string) int {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/oauth2/userinfo", nil)
	r.Header.Set("Authorization", "Bearer "+at)
	res := fx.Do(r)
	res.Body.Close()
	if res.StatusCode == http.StatusUnauthorized && !strings.Contains(res.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("userinfo 401 without invalid_token: %q", res.Header.Get("WWW-Authenticate"))
	}
	return res.StatusCode
}

func jwksKIDs(fx *brokertest.OAuthFixture, t *testing.T) []string {
	t.Helper()
	res := fx.Do(httptest.NewRequest(http.MethodGet, "/oauth2/jwks", nil))
	defer res.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil || res.StatusCode != 200 {
		t.Fatalf("jwks: %d %v", res.StatusCode, err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func (e *revokeEnv) revoke(t *testing.T, kid string) keys.Revoked {
	t.Helper()
	// As gatehouse keys revoke does: through the admin operation, which audits it.
	ops := &operations.Service{Store: e.a.DB, Keys: e.a.KM, Audit: e.a.AW}
	res, err := ops.RevokeKey(context.Background(), operations.Actor{Name: "test-admin"}, kid)
	brokertest.Must(t, err)
	return res
}

// TestASJWT04_RevokedKeyTokensRefusedOnEveryReplica: a token whose kid is that of
// a key revoked as compromised is refused at once by every replica — introspection
// says inactive, UserInfo invalid_token, an id_token_hint is ignored — including
// the replica that has not reread its key cache yet; tokens of the other keys stay
// valid, and the replacement key signs at once.
func TestASJWT04_RevokedKeyTokensRefusedOnEveryReplica(t *testing.T) {
	e := newRevokeEnv(t)
	res := e.revoke(t, e.serverKID)
	if res.Replacement == nil || res.Replacement.Algorithm != keys.ES256 {
		t.Fatalf("revoking the active key: replacement %+v", res.Replacement)
	}
	for name, fx := range map[string]*brokertest.OAuthFixture{"revoking replica": e.a, "other replica": e.b} {
		if fx.Active(t, e.svcAT) || fx.Active(t, e.userAT) {
			t.Errorf("%s: a token of the revoked key is active at introspection", name)
		}
		if code := userinfo(fx, t, e.userAT); code != http.StatusUnauthorized {
			t.Errorf("%s: userinfo with a token of the revoked key: %d, want 401", name, code)
		}
		// The ID token was signed by the RS256 key, which is not revoked.
		if _, ok := fx.OAuth().IDTokenHint(context.Background(), e.idTok); !ok {
			t.Errorf("%s: the ID token of a key not revoked is refused", name)
		}
	}
	// Revoking the ID-token key makes its ID tokens worthless as hints everywhere.
	e.revoke(t, e.idTokenKID)
	for name, fx := range map[string]*brokertest.OAuthFixture{"revoking replica": e.a, "other replica": e.b} {
		if _, ok := fx.OAuth().IDTokenHint(context.Background(), e.idTok); ok {
			t.Errorf("%s: an ID token of the revoked key is accepted as id_token_hint", name)
		}
	}
	// From now on a signs with the replacement, and b accepts its tokens at once.
	at := e.a.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	if kid := kidOf(t, at); kid != res.Replacement.ID {
		t.Fatalf("new token signed with %s, want the replacement %s", kid, res.Replacement.ID)
	}
	if !e.b.Active(t, at) || !e.a.Active(t, at) {
		t.Error("a token of the replacement key is not active on both replicas")
	}
	if n := e.a.AuditCount(t, "key.revoked"); n != 2 {
		t.Errorf("%d key.revoked audit events, want 2", n)
	}
}

// TestASJWT10_RevokedKeyLeavesJWKSOnEveryReplica: ordinary rotation keeps a retired
// key published until its tokens expire; a revoked key leaves the JWKS at once on
// every replica, although the other replica's key cache is only reread every
// refresh interval.
func TestASJWT10_RevokedKeyLeavesJWKSOnEveryReplica(t *testing.T) {
	e := newRevokeEnv(t)
	for _, fx := range []*brokertest.OAuthFixture{e.a, e.b} {
		if kids := jwksKIDs(fx, t); !slices.Contains(kids, e.serverKID) {
			t.Fatalf("JWKS %v lacks the key before the revocation", kids)
		}
	}
	res := e.revoke(t, e.serverKID)
	for name, fx := range map[string]*brokertest.OAuthFixture{"revoking replica": e.a, "other replica": e.b} {
		kids := jwksKIDs(fx, t)
		if slices.Contains(kids, e.serverKID) {
			t.Errorf("%s still publishes the revoked key: %v", name, kids)
		}
		if !slices.Contains(kids, e.idTokenKID) || !slices.Contains(kids, res.Replacement.ID) {
			t.Errorf("%s: JWKS %v, want the RS256 key and the replacement", name, kids)
		}
	}
	recs, err := e.a.DB.SigningKeys().List(context.Background())
	brokertest.Must(t, err)
	if slices.ContainsFunc(recs, func(k store.SigningKey) bool { return k.ID == e.serverKID }) {
		t.Error("the revoked key is still stored")
	}
}
