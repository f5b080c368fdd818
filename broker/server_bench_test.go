package broker_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// BenchmarkShell measures what every request pays before its handler runs: request
// ID, access log, recovery, security headers, body limit, routing and metrics.
func BenchmarkShell(b *testing.B) {
	ts := brokertest.NewTestServer(b, "https://id.example.com", nil, nil)
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		ts.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
