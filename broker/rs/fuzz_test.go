package rs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/broker/rs"
)

// FuzzRequire: whatever Authorization and DPoP headers arrive, the middleware
// answers 200, 400, 401 or 403, never panics, and lets nothing but a token of
// the issuer through.
func FuzzRequire(f *testing.F) {
	issuer, client, mint := exampleIssuer()
	v, err := rs.New(context.Background(), rs.Config{Issuer: issuer, Audience: "https://api.example.com", HTTPClient: client})
	if err != nil {
		f.Fatal(err)
	}
	good := mint("notes.read")
	for _, s := range []string{"Bearer " + good, "DPoP " + good, "Bearer " + good + "x", "Bearer a.b.c", "Bearer ", "DPoP",
		"Bearer ....", "bearer " + mint("other"), "Basic x", ""} {
		f.Add(s, "x.y.z")
	}
	h := v.Require("notes.read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rs.TokenFrom(r.Context()) == nil {
			panic("handler without a token")
		}
	}))
	f.Fuzz(func(t *testing.T, authz, proof string) {
		r := httptest.NewRequest("GET", "https://api.example.com/notes", nil)
		r.Header["Authorization"] = []string{authz}
		r.Header["Dpop"] = []string{proof}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 401, 403:
		default:
			t.Fatalf("status %d for %q", w.Code, authz)
		}
	})
}
