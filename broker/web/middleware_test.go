package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/broker/config"
)

// WithSecurityHeaders assigns its headers to the map directly: the keys must be
// canonical for Header.Get to find them, and one response's changes must not reach
// another's.
func TestSecurityHeadersAssignedDirectly(t *testing.T) {
	if securityHeaders[0][0] != "Content-Security-Policy" || securityHeaders[1][0] != "X-Frame-Options" ||
		securityHeaders[7][0] != "Cache-Control" {
		t.Fatal("the test expects the table in its order")
	}
	for _, kv := range securityHeaders {
		if http.CanonicalHeaderKey(kv[0]) != kv[0] {
			t.Errorf("%q is not canonical", kv[0])
		}
	}
	issuer, _ := url.Parse("https://id.example.com")
	c := &Core{Config: &config.Config{Issuer: issuer}}
	h := c.WithSecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Cache-Control", "private")
		w.Header()["X-Frame-Options"][0] = "SAMEORIGIN"
	}))
	for range 2 {
		w := httptest.NewRecorder()
		w.Header().Set("Cache-Control", "no-cache") // replaced
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		got := w.Header()
		if cc := got.Values("Cache-Control"); len(cc) != 2 || cc[0] != "no-store" || cc[1] != "private" {
			t.Errorf("Cache-Control = %q", cc)
		}
		for _, kv := range securityHeaders[2:7] { // the ones the handler left alone
			if v := got.Get(kv[0]); v != kv[1] {
				t.Errorf("%s = %q, want %q", kv[0], v, kv[1])
			}
		}
		if got.Get("Strict-Transport-Security") == "" {
			t.Error("no HSTS with an https issuer")
		}
	}
}
