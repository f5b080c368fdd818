package broker

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkShell measures what every request pays before its handler runs: request
// ID, access log, recovery, security headers, body limit, routing and metrics.
func BenchmarkShell(b *testing.B) {
	ts := newTestServer(b, "https://id.example.com", nil, nil)
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
