package broker_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/web"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// htmlRoutes are every route that answers a person with HTML, including error pages.
var htmlRoutes = []struct{ method, path string }{
	{"GET", "/"},
	{"GET", "/no-such-page"},
	{"POST", "/healthz"},
	{"GET", "/static/style.css"}, // unhashed asset name: 404 page
}

func TestWEB12_Clickjacking(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", nil, nil)
	for _, rt := range htmlRoutes {
		res := ts.Do(httptest.NewRequest(rt.method, rt.path, nil))
		if got := res.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s %s: X-Frame-Options %q", rt.method, rt.path, got)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s %s: CSP without frame-ancestors 'none': %q", rt.method, rt.path, csp)
		}
	}
}

func TestWEB13_ContentSecurityPolicy(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", nil, nil)
	for _, rt := range htmlRoutes {
		res := ts.Do(httptest.NewRequest(rt.method, rt.path, nil))
		csp := res.Header.Get("Content-Security-Policy")
		directives := map[string]string{}
		for _, d := range strings.Split(csp, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
			directives[name] = value
		}
		for name, want := range map[string]string{
			"default-src": "'self'", "script-src": "'self'", "object-src": "'none'",
			"base-uri": "'none'", "form-action": "'self'", "frame-ancestors": "'none'",
		} {
			if directives[name] != want {
				t.Errorf("%s %s: %s is %q, want %q", rt.method, rt.path, name, directives[name], want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s %s: CSP allows unsafe script: %q", rt.method, rt.path, csp)
		}
		// No inline script or style in the page itself, which the CSP would block anyway.
		page := brokertest.Body(t, res)
		if strings.Contains(page, "<script>") || strings.Contains(page, "<style") || strings.Contains(page, " style=") || strings.Contains(page, " on") && strings.Contains(page, "onerror=") {
			t.Errorf("%s %s: inline script or style in page", rt.method, rt.path)
		}
	}
}

func TestWEB15_OtherHeaders(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		hsts   bool
	}{{"https://id.example.com", true}, {"http://localhost:8080", false}} {
		ts := brokertest.NewTestServer(t, tc.issuer, nil, nil)
		for _, rt := range htmlRoutes {
			res := ts.Do(httptest.NewRequest(rt.method, rt.path, nil))
			h := res.Header
			want := map[string]string{
				"X-Content-Type-Options":     "nosniff",
				"Referrer-Policy":            "no-referrer",
				"Cross-Origin-Opener-Policy": "same-origin",
				"Cache-Control":              "no-store",
				"Content-Type":               "text/html; charset=utf-8",
			}
			for k, v := range want {
				if h.Get(k) != v {
					t.Errorf("%s %s %s: %s = %q, want %q", tc.issuer, rt.method, rt.path, k, h.Get(k), v)
				}
			}
			hsts := h.Get("Strict-Transport-Security")
			if tc.hsts != (hsts == "max-age=63072000; includeSubDomains") {
				t.Errorf("%s %s: HSTS %q", tc.issuer, rt.path, hsts)
			}
		}
	}
}

func TestStaticAssetsAreHashedAndImmutable(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", nil, nil)
	page := brokertest.Body(t, ts.Do(httptest.NewRequest("GET", "/", nil)))
	i := strings.Index(page, `href="/static/style.`)
	if i < 0 {
		t.Fatalf("page does not link the hashed stylesheet:\n%s", page)
	}
	href := page[i+len(`href="`):]
	href = href[:strings.Index(href, `"`)]
	res := ts.Do(httptest.NewRequest("GET", href, nil))
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/css; charset=utf-8" ||
		res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("GET %s: %d %v", href, res.StatusCode, res.Header)
	}
	if !strings.Contains(brokertest.Body(t, res), "--brand") {
		t.Error("stylesheet content missing")
	}
}

func TestUnknownRoutesGetStyledPages(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", nil, nil)
	res := ts.Do(httptest.NewRequest("GET", "/does/not/exist?x=<script>", nil))
	page := brokertest.Body(t, res)
	if res.StatusCode != 404 || !strings.Contains(page, `data-testid="error"`) || !strings.Contains(page, "Page not found") {
		t.Fatalf("404: %d\n%s", res.StatusCode, page)
	}
	if id := res.Header.Get("X-Request-ID"); id == "" || !strings.Contains(page, id) {
		t.Errorf("error page does not show the request ID %q", id)
	}
	res = ts.Do(httptest.NewRequest("DELETE", "/healthz", nil))
	if res.StatusCode != 405 || res.Header.Get("Allow") != "GET" {
		t.Fatalf("405: %d Allow=%q", res.StatusCode, res.Header.Get("Allow"))
	}
}

func TestHealthAndReadiness(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", nil, func(s *broker.Server) {
		// A page that needs the database, as most will.
		s.Page("GET /test/needs-db", func(w http.ResponseWriter, r *http.Request) error {
			_, err := s.Store().Clients().List(r.Context())
			return err
		})
	})
	for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": `{"checks":{"database":"ok"},"status":"ok"}`} {
		res := ts.Do(httptest.NewRequest("GET", path, nil))
		if got := brokertest.Body(t, res); res.StatusCode != 200 || got != want {
			t.Errorf("%s: %d %q", path, res.StatusCode, got)
		}
	}
	if res := ts.Do(httptest.NewRequest("GET", "/test/needs-db", nil)); res.StatusCode != 200 {
		t.Fatalf("needs-db with database up: %d", res.StatusCode)
	}

	ts.DB.Close() // the database goes away

	res := ts.Do(httptest.NewRequest("GET", "/readyz", nil))
	if got := brokertest.Body(t, res); res.StatusCode != 503 || !strings.Contains(got, `"database":"unreachable"`) {
		t.Errorf("/readyz with database gone: %d %s", res.StatusCode, got)
	}
	if res := ts.Do(httptest.NewRequest("GET", "/healthz", nil)); res.StatusCode != 200 {
		t.Errorf("/healthz brokertest.Must not depend on the database: %d", res.StatusCode)
	}
	res = ts.Do(httptest.NewRequest("GET", "/test/needs-db", nil))
	page := brokertest.Body(t, res)
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(page, "Temporarily unavailable") {
		t.Fatalf("page needing the database: %d %v\n%s", res.StatusCode, res.Header, page)
	}
	if strings.Contains(page, "closed") || strings.Contains(page, "sql") {
		t.Errorf("internal error text leaked to the page:\n%s", page)
	}
}

func TestMetrics(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", nil, nil)
	ts.Do(httptest.NewRequest("GET", "/healthz", nil))
	ts.Do(httptest.NewRequest("GET", "/missing", nil))
	m := brokertest.Body(t, ts.Do(httptest.NewRequest("GET", "/metrics", nil)))
	for _, want := range []string{
		`gatehouse_http_requests_total{code="200",method="get",route="GET /healthz"} 1`,
		`gatehouse_http_requests_total{code="404",method="get",route="unmatched"} 1`,
		`gatehouse_http_request_duration_seconds_bucket{route="GET /healthz",le="`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com/tenant", nil, nil)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		res := ts.Do(httptest.NewRequest("GET", path, nil))
		got := brokertest.Body(t, res)
		for _, want := range []string{`"issuer":"https://id.example.com/tenant"`, `"jwks_uri":"https://id.example.com/tenant/oauth2/jwks"`, `"id_token_signing_alg_values_supported":["RS256","ES256"]`} {
			if !strings.Contains(got, want) {
				t.Errorf("%s lacks %s: %s", path, want, got)
			}
		}
		if res.Header.Get("Access-Control-Allow-Origin") != "*" || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s headers: %v", path, res.Header)
		}
	}
	res := ts.Do(httptest.NewRequest("GET", "/oauth2/jwks", nil))
	got := brokertest.Body(t, res)
	if res.StatusCode != 200 || !strings.Contains(got, `"alg":"ES256"`) || !strings.Contains(got, `"kid":`) ||
		strings.Contains(got, `"d":`) || res.Header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("jwks: %d %v %s", res.StatusCode, res.Header, got)
	}
}

func TestDOS14_PanicRecovery(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", nil, func(s *broker.Server) {
		s.Page("GET /test/panic", func(w http.ResponseWriter, r *http.Request) error { panic("secret internal detail") })
	})
	res := ts.Do(httptest.NewRequest("GET", "/test/panic", nil))
	page := brokertest.Body(t, res)
	if res.StatusCode != 500 || strings.Contains(page, "secret internal detail") || !strings.Contains(page, "Something went wrong") {
		t.Fatalf("panic: %d\n%s", res.StatusCode, page)
	}
	if !strings.Contains(ts.Log.String(), "secret internal detail") {
		t.Error("the panic was not logged")
	}
	if res := ts.Do(httptest.NewRequest("GET", "/healthz", nil)); res.StatusCode != 200 {
		t.Error("server stopped serving after a panic")
	}
}

func TestDOS02_BodyLimit(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", nil, func(s *broker.Server) {
		s.Endpoint("POST /test/echo", s.Web().Adapt(func(w http.ResponseWriter, r *http.Request) error {
			if err := r.ParseForm(); err != nil {
				return err
			}
			w.Write([]byte(r.PostFormValue("a")))
			return nil
		}))
	})
	big := "a=" + strings.Repeat("x", web.DefaultBodyLimit+1)
	// Declared length over the limit: refused before the handler reads anything.
	req := httptest.NewRequest("POST", "/test/echo", strings.NewReader(big))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := ts.Do(req); res.StatusCode != 413 {
		t.Errorf("declared oversized body: %d", res.StatusCode)
	}
	// Chunked (no length): refused once reading passes the limit.
	req = httptest.NewRequest("POST", "/test/echo", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := ts.Do(req); res.StatusCode != 413 {
		t.Errorf("chunked oversized body: %d", res.StatusCode)
	}
	req = httptest.NewRequest("POST", "/test/echo", strings.NewReader("a=fine"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := ts.Do(req); res.StatusCode != 200 || brokertest.Body(t, res) != "fine" {
		t.Errorf("small body refused")
	}
}

func TestTrustedProxies(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8"}, func(s *broker.Server) {
		s.Endpoint("GET /test/whoami", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(web.InfoFrom(r.Context()).IP + " " + web.RequestID(r.Context())))
		}))
	})
	for _, tc := range []struct{ remote, xff, reqID, wantIP, wantID string }{
		{"203.0.113.9:5000", "198.51.100.1", "forged-id-12345", "203.0.113.9", ""},                      // untrusted peer: headers ignored
		{"10.1.2.3:5000", "198.51.100.1, 10.9.9.9", "proxy-id-12345", "198.51.100.1", "proxy-id-12345"}, // rightmost untrusted hop
		{"10.1.2.3:5000", "garbage", "bad id!", "10.1.2.3", ""},
	} {
		req := httptest.NewRequest("GET", "/test/whoami", nil)
		req.RemoteAddr = tc.remote
		req.Header.Set("X-Forwarded-For", tc.xff)
		req.Header.Set("X-Request-ID", tc.reqID)
		ip, id, _ := strings.Cut(brokertest.Body(t, ts.Do(req)), " ")
		if ip != tc.wantIP {
			t.Errorf("remote %s XFF %q: IP %s, want %s", tc.remote, tc.xff, ip, tc.wantIP)
		}
		if tc.wantID != "" && id != tc.wantID || tc.wantID == "" && id == tc.reqID {
			t.Errorf("remote %s: request ID %q", tc.remote, id)
		}
	}
}

func TestAccessLogHasNoQueryStrings(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", nil, nil)
	ts.Do(httptest.NewRequest("GET", "/?code=SECRETCODE&state=abc", nil))
	if l := ts.Log.String(); strings.Contains(l, "SECRETCODE") || !strings.Contains(l, `"path":"/"`) {
		t.Fatalf("access log: %s", l)
	}
}

// formServer has a form route, as consent, delegation and admin pages will.
func formServer(t *testing.T, issuer string) *brokertest.TestServer {
	return brokertest.NewTestServer(t, issuer, nil, func(s *broker.Server) {
		s.Page("GET /test/form", func(w http.ResponseWriter, r *http.Request) error {
			tok, err := s.Web().CSRFToken(w, r, "/test/form")
			if err != nil {
				return err
			}
			w.Write([]byte(tok))
			return nil
		})
		s.Form("POST /test/form", func(w http.ResponseWriter, r *http.Request) error {
			w.Write([]byte("changed"))
			return nil
		})
	})
}

// browser fetches the form page and returns its cookie and token.
func browser(ts *brokertest.TestServer, t *testing.T) (*http.Cookie, string) {
	t.Helper()
	res := ts.Do(httptest.NewRequest("GET", "https://id.example.com/test/form", nil))
	if len(res.Cookies()) != 1 {
		t.Fatalf("want one cookie, got %v", res.Header["Set-Cookie"])
	}
	return res.Cookies()[0], brokertest.Body(t, res)
}

func post(ts *brokertest.TestServer, cookie *http.Cookie, token string, header map[string]string) *http.Response {
	req := httptest.NewRequest("POST", "https://id.example.com/test/form", strings.NewReader(url.Values{web.CSRFField: {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return ts.Do(req)
}

func TestWEB08_CookieFlags(t *testing.T) {
	ts := formServer(t, "https://id.example.com")
	res := ts.Do(httptest.NewRequest("GET", "https://id.example.com/test/form", nil))
	raw := res.Header.Values("Set-Cookie")
	if len(raw) != 1 {
		t.Fatalf("Set-Cookie: %v", raw)
	}
	c := res.Cookies()[0]
	if c.Name != "__Host-gatehouse" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.MaxAge != int((12*time.Hour).Seconds()) {
		t.Fatalf("cookie flags: %s", raw[0])
	}
	// A plain-http loopback issuer (the demo) cannot use the __Host- prefix or Secure.
	ts = formServer(t, "http://localhost:8080")
	c = ts.Do(httptest.NewRequest("GET", "http://localhost:8080/test/form", nil)).Cookies()[0]
	if c.Name != "gatehouse" || c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("loopback cookie flags: %+v", c)
	}
}

func TestWEB01_CSRF(t *testing.T) {
	ts := formServer(t, "https://id.example.com")
	cookie, token := browser(ts, t)
	otherCookie, otherToken := browser(ts, t)

	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		token  string
		header map[string]string
		want   int
	}{
		{"same-origin with token", cookie, token, map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"no Fetch metadata, own origin", cookie, token, map[string]string{"Origin": "https://id.example.com"}, 200},
		{"cross-site fetch", cookie, token, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign Origin", cookie, token, map[string]string{"Origin": "https://evil.test"}, 403},
		{"no token", cookie, "", nil, 403},
		{"another browser's token", cookie, otherToken, nil, 403},
		{"token without its cookie", nil, token, nil, 403},
		{"token for another form", otherCookie, web.FormToken([]byte("x"), "/test/form"), nil, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := post(ts, tc.cookie, tc.token, tc.header)
			got := brokertest.Body(t, res)
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.want, got)
			}
			if tc.want == 403 && got == "changed" {
				t.Fatal("the refused request changed state")
			}
		})
	}
}

func TestWEB04_NoStateChangeByGET(t *testing.T) {
	ts := formServer(t, "https://id.example.com")
	if len(ts.Forms()) == 0 {
		t.Fatal("no form routes registered")
	}
	for _, pattern := range ts.Forms() {
		method, path, _ := strings.Cut(pattern, " ")
		if method != "POST" {
			t.Errorf("form route %q changes state on %s", pattern, method)
		}
		for _, m := range []string{"PUT", "DELETE", "PATCH"} {
			if res := ts.Do(httptest.NewRequest(m, path, nil)); res.StatusCode != 405 {
				t.Errorf("%s %s: %d, want 405", m, path, res.StatusCode)
			}
		}
	}
}
