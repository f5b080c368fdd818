package oauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

func benchPost(b *testing.B, fx *brokertest.OAuthFixture, path, auth, body string) {
	b.Helper()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", path, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(auth, url.QueryEscape(fx.Secrets[auth]))
			w := httptest.NewRecorder()
			fx.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkClientCredentials: the whole request through the handler and middleware.
func BenchmarkClientCredentials(b *testing.B) {
	fx := brokertest.NewOAuthFixture(b, map[string]string{"GATEHOUSE_LOG_LEVEL": "warn", "GATEHOUSE_OAUTH_RATE_PER_CLIENT": "0", "GATEHOUSE_OAUTH_RATE_PER_IP": "0"})
	benchPost(b, fx, "/oauth2/token", "svc", "grant_type=client_credentials&scope=read")
}

// BenchmarkIntrospect: introspecting a valid access token as its resource server.
func BenchmarkIntrospect(b *testing.B) {
	fx := brokertest.NewOAuthFixture(b, map[string]string{"GATEHOUSE_OAUTH_RATE_PER_CLIENT": "0", "GATEHOUSE_OAUTH_RATE_PER_IP": "0"})
	at := fx.Call(&testing.T{}, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	benchPost(b, fx, "/oauth2/introspect", "rs1", "token="+at)
}

// BenchmarkRefreshRotation: one refresh-token rotation (database write included).
func BenchmarkRefreshRotation(b *testing.B) {
	fx := brokertest.NewOAuthFixture(b, map[string]string{"GATEHOUSE_OAUTH_RATE_PER_CLIENT": "0", "GATEHOUSE_OAUTH_RATE_PER_IP": "0"})
	t := &testing.T{}
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb", Scopes: []string{"read"}})
	rt := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil).Str("refresh_token")
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader("grant_type=refresh_token&refresh_token="+rt))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("web1", url.QueryEscape(fx.Secrets["web1"]))
		w := httptest.NewRecorder()
		fx.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		rt = tokenField(w.Body.String(), "refresh_token")
	}
}

func tokenField(body, name string) string {
	_, rest, _ := strings.Cut(body, `"`+name+`":"`)
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
