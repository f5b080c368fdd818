package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/providers"
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
	env := Env{AllowHTTP: true, HTTPClient: safehttp.NewClient(safehttp.Options{AllowLoopback: true, Timeout: 300 * time.Millisecond})}
	_, err := env.FetchMetadata(context.Background(), srv.URL)
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	t.Logf("refused: %v", err)
}
