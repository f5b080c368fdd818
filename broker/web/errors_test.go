package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// pingStore is a store whose only used method, Ping, answers err.
type pingStore struct {
	store.Store
	err error
}

func (p pingStore) Ping(context.Context) error { return p.err }

func newTestCore(t *testing.T, dbErr error) (*Core, *testsupport.LockedBuffer) {
	t.Helper()
	issuer, _ := url.Parse("https://id.example.com")
	logs := &testsupport.LockedBuffer{}
	c, err := NewCore(Options{
		Config: &config.Config{Issuer: issuer, MasterKeys: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}, SessionMaxAge: time.Hour},
		Store:  pingStore{err: dbErr},
		Log:    slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, logs
}

// serve runs h behind WithRequestInfo, as every route is.
func serve(c *Core, h http.Handler) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	c.WithRequestInfo(h).ServeHTTP(w, httptest.NewRequest("GET", "https://id.example.com/x", nil))
	return w
}

// TestAdaptRendersLogsAndHides: a page handler's error becomes the error page with
// its status and the request ID; the cause goes to the log only, at Warn for 4xx and
// Error for 5xx; an unexpected error while the database is down is 503.
func TestAdaptRendersLogsAndHides(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		dbErr  error
		status int
		level  string
	}{
		{"user error", &UserError{Status: 404, Title: "Gone", Message: "Nothing here.", Err: errors.New("secret cause")}, nil, 404, "WARN"},
		{"unexpected", errors.New("secret cause"), nil, 500, "ERROR"},
		{"unexpected, database down", errors.New("secret cause"), errors.New("down"), 503, "ERROR"},
		{"body too large", &http.MaxBytesError{Limit: 1}, nil, 413, "WARN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, logs := newTestCore(t, tc.dbErr)
			w := serve(c, c.Adapt(func(http.ResponseWriter, *http.Request) error { return tc.err }))
			id := w.Header().Get("X-Request-ID")
			if w.Code != tc.status || !strings.Contains(w.Body.String(), id) || strings.Contains(w.Body.String(), "secret cause") {
				t.Fatalf("status %d, body %q", w.Code, w.Body.String())
			}
			if w.Header().Get("Cache-Control") != "no-store" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
				t.Errorf("headers %v", w.Header())
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(strings.SplitN(logs.String(), "\n", 2)[0]), &line); err != nil {
				t.Fatal(err)
			}
			if line["level"] != tc.level || line["request_id"] != id || line["status"] != float64(tc.status) {
				t.Errorf("log line %v", line)
			}
		})
	}
}

// TestAdaptOAuthAnswersJSON: an OAuth endpoint's error is RFC 6749 §5.2 JSON, never
// a page and never the cause; 401 carries WWW-Authenticate, and an unexpected error
// while the database is down is temporarily_unavailable with Retry-After.
func TestAdaptOAuthAnswersJSON(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		dbErr      error
		status     int
		code       string
		header     string
		headerWant string
	}{
		{"invalid request", InvalidRequest("code is required"), nil, 400, "invalid_request", "Cache-Control", "no-store"},
		{"rate limited", TooManyRequests(7), nil, 429, "slow_down", "Retry-After", "7"},
		{"unexpected", errors.New("secret cause"), nil, 500, "server_error", "Pragma", "no-cache"},
		{"unexpected, database down", errors.New("secret cause"), errors.New("down"), 503, "temporarily_unavailable", "Retry-After", "30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCore(t, tc.dbErr)
			w := serve(c, c.AdaptOAuth(func(http.ResponseWriter, *http.Request) error { return tc.err }))
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("not JSON: %q", w.Body.String())
			}
			if w.Code != tc.status || body["error"] != tc.code || strings.Contains(w.Body.String(), "secret") {
				t.Errorf("status %d, body %v", w.Code, body)
			}
			if got := w.Header().Get(tc.header); got != tc.headerWant {
				t.Errorf("%s = %q, want %q", tc.header, got, tc.headerWant)
			}
		})
	}
}

// TestClientGoneIsNotAServerError: a request whose client disconnected (its
// context canceled, as net/http does) fails with context.Canceled deep in a
// query; that is recorded as 499 at Info, not as a 500 at Error, on pages and
// OAuth endpoints. A cancellation the client did not cause (the request's
// context still live) stays a 500.
func TestClientGoneIsNotAServerError(t *testing.T) {
	queryErr := fmt.Errorf("identities: user of: %w", context.Canceled)
	for name, adapt := range map[string]func(*Core, HandlerFunc) http.Handler{
		"page":  (*Core).Adapt,
		"oauth": (*Core).AdaptOAuth,
	} {
		t.Run(name, func(t *testing.T) {
			c, logs := newTestCore(t, nil)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the client went away
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "https://id.example.com/oauth2/token", nil).WithContext(ctx)
			c.WithRequestInfo(adapt(c, func(http.ResponseWriter, *http.Request) error { return queryErr })).ServeHTTP(w, r)
			if w.Code != StatusClientClosedRequest || w.Body.Len() != 0 {
				t.Errorf("status %d, body %q", w.Code, w.Body.String())
			}
			if strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "client went away") {
				t.Errorf("logs: %s", logs)
			}

			c, logs = newTestCore(t, nil)
			w = serve(c, adapt(c, func(http.ResponseWriter, *http.Request) error { return queryErr }))
			if w.Code != http.StatusInternalServerError || !strings.Contains(logs.String(), `"level":"ERROR"`) {
				t.Errorf("a cancellation with the client still there: status %d, logs %s", w.Code, logs)
			}
		})
	}
}

// TestCSRFTokenPerForm (WEB-01): a token issued for one form action is accepted
// there with the browser's cookie, and refused at another action or without the
// cookie.
func TestCSRFTokenPerForm(t *testing.T) {
	c, _ := newTestCore(t, nil)
	w := httptest.NewRecorder()
	tok, err := c.CSRFToken(w, httptest.NewRequest("GET", "https://id.example.com/form", nil), "/form")
	if err != nil {
		t.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != BrowserCookieSecure {
		t.Fatalf("cookies %v", cookies)
	}
	post := func(path string, withCookie bool) error {
		r := httptest.NewRequest("POST", "https://id.example.com"+path, strings.NewReader(url.Values{CSRFField: {tok}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		if withCookie {
			r.AddCookie(cookies[0])
		}
		return c.CheckCSRF(r)
	}
	if err := post("/form", true); err != nil {
		t.Fatalf("own form refused: %v", err)
	}
	var ue *UserError
	if err := post("/other", true); !errors.As(err, &ue) || ue.Status != 403 {
		t.Errorf("another form: %v", err)
	}
	if err := post("/form", false); !errors.As(err, &ue) || ue.Status != 403 {
		t.Errorf("without the cookie: %v", err)
	}
}

// TestRequestOutOfTimeOnTheDatabaseIs503 (issue 14, found by tools/chaos): a
// request that ran out of GATEHOUSE_REQUEST_TIMEOUT waiting on the database
// (pgx answers "timeout: context deadline exceeded") is 503, on pages and OAuth
// endpoints, even when the database answers the ping that follows: it thawed
// meanwhile, but this request still failed for want of it, not for a bug.
func TestRequestOutOfTimeOnTheDatabaseIs503(t *testing.T) {
	queryErr := fmt.Errorf("clients: get: %w", fmt.Errorf("timeout: %w", context.DeadlineExceeded))
	for name, adapt := range map[string]func(*Core, HandlerFunc) http.Handler{
		"page":  (*Core).Adapt,
		"oauth": (*Core).AdaptOAuth,
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := newTestCore(t, nil) // the ping succeeds
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "https://id.example.com/oauth2/token", nil).WithContext(ctx)
			c.WithRequestInfo(adapt(c, func(http.ResponseWriter, *http.Request) error { return queryErr })).ServeHTTP(w, r)
			if w.Code != http.StatusServiceUnavailable {
				t.Errorf("status %d, want 503: %s", w.Code, w.Body.String())
			}
			// The error page is rendered although the request's context has
			// ended (templ components stop at a done context): a person sees
			// what happened, not an empty page.
			if name == "page" && !strings.Contains(w.Body.String(), `data-testid="error-message"`) {
				t.Errorf("the error page after the deadline says nothing: %q", w.Body.String())
			}
		})
	}
}
