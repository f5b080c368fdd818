package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/go-jose/go-jose/v4"
)

// revokeEnv is two replicas on one database, with tokens both signed before a
// key revocation: an access token of client_credentials, and the access and ID
// tokens of a code exchange.
type revokeEnv struct {
	a, b                  *oauthFixture
	svcAT, userAT, idTok  string
	serverKID, idTokenKID string
}

func newRevokeEnv(t *testing.T) *revokeEnv {
	a := newOAuthFixture(t, nil)
	// Replica b shares a's database and has its own key cache.
	b := &oauthFixture{testServer: newTestServer(t, "https://gatehouse.test", map[string]string{"test-database-url": "sqlite:" + a.dbPath}, nil),
		secrets: a.secrets}
	e := &revokeEnv{a: a, b: b}
	e.svcAT = a.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).str("access_token")
	code, verifier, _ := a.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	r := a.exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	e.userAT, e.idTok = r.str("access_token"), r.str("id_token")
	e.serverKID, e.idTokenKID = kidOf(t, e.svcAT), kidOf(t, e.idTok)
	for _, fx := range []*oauthFixture{a, b} {
		if !fx.active(t, e.svcAT) || !fx.active(t, e.userAT) || fx.userinfo(t, e.userAT) != http.StatusOK {
			t.Fatal("tokens not valid on both replicas before the revocation: the test proves nothing")
		}
		if _, ok := fx.oauth.IDTokenHint(context.Background(), e.idTok); !ok {
			t.Fatal("ID token not a valid hint before the revocation")
		}
	}
	return e
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	return header(t, tok).KeyID
}

func (fx *oauthFixture) userinfo(t *testing.T, at string) int {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/oauth2/userinfo", nil)
	r.Header.Set("Authorization", "Bearer "+at)
	res := fx.do(r)
	res.Body.Close()
	if res.StatusCode == http.StatusUnauthorized && !strings.Contains(res.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("userinfo 401 without invalid_token: %q", res.Header.Get("WWW-Authenticate"))
	}
	return res.StatusCode
}

func (fx *oauthFixture) jwksKIDs(t *testing.T) []string {
	t.Helper()
	res := fx.do(httptest.NewRequest(http.MethodGet, "/oauth2/jwks", nil))
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
	ops := &operations.Service{Store: e.a.db, Keys: e.a.km, Audit: e.a.aw}
	res, err := ops.RevokeKey(context.Background(), operations.Actor{Name: "test-admin"}, kid)
	must(t, err)
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
	for name, fx := range map[string]*oauthFixture{"revoking replica": e.a, "other replica": e.b} {
		if fx.active(t, e.svcAT) || fx.active(t, e.userAT) {
			t.Errorf("%s: a token of the revoked key is active at introspection", name)
		}
		if code := fx.userinfo(t, e.userAT); code != http.StatusUnauthorized {
			t.Errorf("%s: userinfo with a token of the revoked key: %d, want 401", name, code)
		}
		// The ID token was signed by the RS256 key, which is not revoked.
		if _, ok := fx.oauth.IDTokenHint(context.Background(), e.idTok); !ok {
			t.Errorf("%s: the ID token of a key not revoked is refused", name)
		}
	}
	// Revoking the ID-token key makes its ID tokens worthless as hints everywhere.
	e.revoke(t, e.idTokenKID)
	for name, fx := range map[string]*oauthFixture{"revoking replica": e.a, "other replica": e.b} {
		if _, ok := fx.oauth.IDTokenHint(context.Background(), e.idTok); ok {
			t.Errorf("%s: an ID token of the revoked key is accepted as id_token_hint", name)
		}
	}
	// From now on a signs with the replacement, and b accepts its tokens at once.
	at := e.a.call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).str("access_token")
	if kid := kidOf(t, at); kid != res.Replacement.ID {
		t.Fatalf("new token signed with %s, want the replacement %s", kid, res.Replacement.ID)
	}
	if !e.b.active(t, at) || !e.a.active(t, at) {
		t.Error("a token of the replacement key is not active on both replicas")
	}
	if n := e.a.auditCount(t, "key.revoked"); n != 2 {
		t.Errorf("%d key.revoked audit events, want 2", n)
	}
}

// TestASJWT10_RevokedKeyLeavesJWKSOnEveryReplica: ordinary rotation keeps a retired
// key published until its tokens expire; a revoked key leaves the JWKS at once on
// every replica, although the other replica's key cache is only reread every
// refresh interval.
func TestASJWT10_RevokedKeyLeavesJWKSOnEveryReplica(t *testing.T) {
	e := newRevokeEnv(t)
	for _, fx := range []*oauthFixture{e.a, e.b} {
		if kids := fx.jwksKIDs(t); !slices.Contains(kids, e.serverKID) {
			t.Fatalf("JWKS %v lacks the key before the revocation", kids)
		}
	}
	res := e.revoke(t, e.serverKID)
	for name, fx := range map[string]*oauthFixture{"revoking replica": e.a, "other replica": e.b} {
		kids := fx.jwksKIDs(t)
		if slices.Contains(kids, e.serverKID) {
			t.Errorf("%s still publishes the revoked key: %v", name, kids)
		}
		if !slices.Contains(kids, e.idTokenKID) || !slices.Contains(kids, res.Replacement.ID) {
			t.Errorf("%s: JWKS %v, want the RS256 key and the replacement", name, kids)
		}
	}
	recs, err := e.a.db.SigningKeys().List(context.Background())
	must(t, err)
	if slices.ContainsFunc(recs, func(k store.SigningKey) bool { return k.ID == e.serverKID }) {
		t.Error("the revoked key is still stored")
	}
}
