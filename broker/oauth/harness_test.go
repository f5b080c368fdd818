package oauth

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/internal/testsupport/deps"
)

// The OAuth server built from its own dependencies, without broker's wiring
// (which imports this package): for tests of what lies below the handlers.
// The end-to-end tests through the route table stay in package broker.

// noSignOut stands in for sign-in: these tests never reach a logout.
type noSignOut struct{}

func (noSignOut) UpstreamLogout(http.ResponseWriter, *http.Request, store.Session, *web.AppReturn) (bool, error) {
	return false, nil
}

func (noSignOut) RenderSignedOut(http.ResponseWriter, *http.Request, string) error { return nil }

type noUpstreams struct{}

func (noUpstreams) FormOrigins(context.Context) []string { return nil }

type testEnv struct {
	*Server
	db *sqlstore.DB
	km *keys.Manager
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	d := deps.New(t, "https://gatehouse.test", nil, "", audit.Options{FlushInterval: time.Millisecond})
	cfg, db, ring, log, aw, km := d.Config, d.DB, d.Ring, d.Log, d.Audit, d.Keys
	wc, err := web.NewCore(web.Options{Config: cfg, Store: db, Audit: aw, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Web: wc, Keys: km, Ring: ring, Registry: registry.NewCache(db, time.Now),
		Upstreams: noUpstreams{}, SignOut: noSignOut{}, HTTPClient: http.DefaultClient, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{Server: s, db: db, km: km}
}

const rs1 = "https://api1.test"

// BenchmarkIssueAccessToken: minting and signing one access token (ES256).
func BenchmarkIssueAccessToken(b *testing.B) {
	e := newTestEnv(b)
	ctx := context.Background()
	now := time.Now()
	if err := e.db.APIs().Create(ctx, store.API{ID: "rs1", Audience: rs1, Name: "API 1", Scopes: []store.Scope{{Name: "read"}}, CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	if err := e.db.Clients().Create(ctx, store.Client{ID: "svc", GrantTypes: []string{registry.GrantClientCredentials}, Scopes: []string{"read"},
		DefaultAudience: rs1, TokenEndpointAuthMethod: registry.AuthSecretBasic, CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	c, _ := e.registry.Client(ctx, "svc")
	signer, err := e.km.Signer(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := e.mintAccess(signer, c, token.AccessGrant{ClientID: c.ID, Audience: rs1, Scopes: []string{"read"}}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
