package operations

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/providers/safehttp"
)

// txWatch is the store with a flag that is set while one of its transactions runs.
type txWatch struct {
	store.Store
	in *atomic.Bool
}

func (s txWatch) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	s.in.Store(true)
	defer s.in.Store(false)
	return s.Store.InTx(ctx, fn)
}

// TestUpsertFetchesMetadataOutsideTransaction: a SAML provider added by metadata
// URL has its metadata fetched before the operation's transaction begins. On
// SQLite a write transaction holds the write lock, and every sign-in with it,
// for as long as it lasts: it must never wait on an IdP.
func TestUpsertFetchesMetadataOutsideTransaction(t *testing.T) {
	w := newWorld(t)
	now := time.Now().UTC().Truncate(time.Second)
	key, cert := providertest.NewKeyPair("idp", now)
	idp := providertest.NewSAMLIdP(func() time.Time { return now }, key, cert, crewjam.Session{})
	t.Cleanup(idp.Close)
	var inTx, fetched, fetchedInTx atomic.Bool
	md := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fetched.Store(true)
		fetchedInTx.Store(fetchedInTx.Load() || inTx.Load())
		rw.Header().Set("Content-Type", "application/samlmetadata+xml")
		rw.Write(idp.Metadata())
	}))
	t.Cleanup(md.Close)
	w.ops.Store = txWatch{Store: w.db, in: &inTx}
	w.ops.Upstream.Networks = safehttp.LoopbackNetworks()
	w.ops.Upstream.Now = func() time.Time { return now }
	w.ops.Upstream.Issuer, _ = url.Parse("https://gatehouse.test")
	spec := upstream.Spec{ID: "uni-saml", Kind: upstream.KindSAML, Name: "Uni",
		SAML: &upstream.SAMLSettings{MetadataURL: md.URL + "/metadata"}}
	ch, err := w.ops.UpsertProvider(t.Context(), admin, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Created || !fetched.Load() {
		t.Fatalf("created %v, metadata fetched %v", ch.Created, fetched.Load())
	}
	if fetchedInTx.Load() {
		t.Error("the metadata was fetched inside the operation's transaction")
	}
	w.audited(t, "provider.added", "uni-saml")
}
