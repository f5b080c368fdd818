package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/providers/safehttp"
)

// A metadata URL that sends its headers and then trickles the body fails
// within the client's bound instead of holding the admin's request (or the
// refresh loop) open.
func TestFetchMetadataTrickledBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.WriteHeader(http.StatusOK)
		for range 100 { // finite, so an unbounded fetch fails the test rather than hangs it
			w.Write([]byte("<"))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	defer srv.Close()
	env := Env{Networks: safehttp.LoopbackNetworks(), HTTPClient: safehttp.NewClient(safehttp.Options{AllowLoopback: true, Timeout: 300 * time.Millisecond})}
	_, err := env.FetchMetadata(context.Background(), srv.URL)
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	t.Logf("refused: %v", err)
}

// A SAML metadata_url on the organisation's own network (here loopback, over
// http): refused without GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS, naming it, and
// before any request is sent; fetched through the default client once listed,
// by address or by host name.
func TestADM07_MetadataURLAllowedNetworks(t *testing.T) {
	k, c := providertest.NewKeyPair("idp", time.Now())
	idp := providertest.NewSAMLIdP(time.Now, k, c, crewjam.Session{})
	t.Cleanup(idp.Close)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(idp.Metadata())
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, tc := range []struct{ list, url string }{
		{"", srv.URL}, {"10.0.0.0/8", srv.URL}, {"localhost", srv.URL},
	} {
		_, err := Env{Networks: safehttp.MustParseNetworks(tc.list)}.FetchMetadata(context.Background(), tc.url)
		if !errors.Is(err, providers.ErrConfig) || !strings.Contains(err.Error(), safehttp.AllowedNetworksSetting) {
			t.Errorf("list %q: err = %v, want a refusal naming the setting", tc.list, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("refused URLs were fetched %d times", n)
	}
	for _, tc := range []struct{ list, url string }{
		{"127.0.0.1", srv.URL}, {"localhost,127.0.0.1", "http://localhost:" + port},
	} {
		if _, err := (Env{Networks: safehttp.MustParseNetworks(tc.list)}).FetchMetadata(context.Background(), tc.url); err != nil {
			t.Errorf("list %q, %s: %v", tc.list, tc.url, err)
		}
	}
}

// SSO and SLO locations are visited by browsers, not by Gatehouse, so only the
// http rule applies to them: http only to a listed loopback host.
func TestUpstreamAllowedNetworks_MetadataLocations(t *testing.T) {
	k, c := providertest.NewKeyPair("idp", time.Now())
	idp := providertest.NewSAMLIdP(time.Now, k, c, crewjam.Session{})
	t.Cleanup(idp.Close)
	md := idp.Metadata() // locations on http://127.0.0.1:port
	corp := []byte(strings.ReplaceAll(string(md), "http://127.0.0.1", "http://idp.corp.example"))
	private := []byte(strings.ReplaceAll(string(md), "http://127.0.0.1", "https://10.0.0.5"))
	for _, tc := range []struct {
		list string
		md   []byte
		ok   bool
	}{
		{"", md, false},
		{"10.0.0.0/8", md, false},
		{"127.0.0.1", md, true},
		{"idp.corp.example", corp, false},
		{"", private, true}, // an intranet IdP the browser reaches over https
	} {
		err := Env{Networks: safehttp.MustParseNetworks(tc.list)}.CheckMetadata(tc.md)
		if (err == nil) != tc.ok {
			t.Errorf("list %q: %v, want ok=%v", tc.list, err, tc.ok)
		}
	}
}
