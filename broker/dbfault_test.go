package broker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/pgtest"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// Issue 14, "A database that hangs, not refuses": with PostgreSQL frozen behind a
// proxy (it accepts and reads, answers nothing, as under SIGSTOP) requests end
// within GATEHOUSE_REQUEST_TIMEOUT with 503, /readyz says 503, and service resumes
// when it thaws, without a restart.
func TestDatabaseThatHangsFailsFastWith503AndRecovers(t *testing.T) {
	proxy, dbURL := pgtest.NewProxy(t, pgtest.URL(t))
	// A connect timeout longer than the test waits: the request timeout alone
	// must end the waits on the frozen database.
	u, err := url.Parse(dbURL)
	brokertest.Must(t, err)
	q := u.Query()
	q.Set("connect_timeout", "300")
	u.RawQuery = q.Encode()
	dbURL = u.String()
	fx := brokertest.NewOAuthFixture(t, map[string]string{"test-database-url": dbURL, "GATEHOUSE_REQUEST_TIMEOUT": "1s"})
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"no-such-token"}}
	fx.Call(t, "/oauth2/token", "basic:web1", refresh).WantError(t, 400, "invalid_grant")

	proxy.Freeze()
	// Each must answer at all: 1 s of request timeout and 2 s of readiness ping,
	// far within this bound; past it the request hung.
	answered := func(what string, do func() *http.Response) *http.Response {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		got := make(chan *http.Response, 1)
		go func() { got <- do() }()
		select {
		case res := <-got:
			return res
		case <-ctx.Done():
			t.Fatalf("%s hung on the frozen database", what)
			return nil
		}
	}
	res := answered("/readyz", func() *http.Response { return fx.Do(httptest.NewRequest("GET", "/readyz", nil)) })
	if body := brokertest.Body(t, res); res.StatusCode != 503 || !strings.Contains(body, `"database":"unreachable"`) {
		t.Errorf("/readyz on a frozen database: %d %s", res.StatusCode, body)
	}
	res = answered("a refresh grant", func() *http.Response { return fx.Post("/oauth2/token", "basic:web1", refresh) })
	if body := brokertest.Body(t, res); res.StatusCode != 503 || !strings.Contains(body, `"temporarily_unavailable"`) {
		t.Errorf("a token request needing the frozen database: %d %s", res.StatusCode, body)
	}
	// More waiting requests than the pool has connections: each still ends.
	const waiting = 30
	ends := make(chan int, waiting)
	for range waiting {
		go func() { ends <- fx.Post("/oauth2/token", "basic:web1", refresh).StatusCode }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range waiting {
		select {
		case code := <-ends:
			if code != 503 {
				t.Errorf("a waiting request answered %d, want 503", code)
			}
		case <-ctx.Done():
			t.Fatal("requests queued for a pooled connection hung on the frozen database")
		}
	}

	proxy.Thaw()
	res = fx.Do(httptest.NewRequest("GET", "/readyz", nil))
	if body := brokertest.Body(t, res); res.StatusCode != 200 {
		t.Fatalf("/readyz after the thaw: %d %s", res.StatusCode, body)
	}
	fx.Call(t, "/oauth2/token", "basic:web1", refresh).WantError(t, 400, "invalid_grant")
}

// Issue 14, "Audit survives outages": tokens issued while PostgreSQL is stopped
// (its connections cut, new ones refused) each leave their token.issued row once
// it is back: as many rows as acknowledged tokens, each token's once.
func TestAuditOfAcknowledgedTokensSurvivesADatabaseOutage(t *testing.T) {
	proxy, dbURL := pgtest.NewProxy(t, pgtest.URL(t))
	fx := brokertest.NewOAuthFixture(t, map[string]string{"test-database-url": dbURL, "GATEHOUSE_REQUEST_TIMEOUT": "2s"})
	cc := url.Values{"grant_type": {"client_credentials"}}
	acknowledged := map[string]bool{} // jti
	issue := func() int {
		res := fx.Post("/oauth2/token", "basic:svc", cc)
		body := brokertest.Body(t, res)
		if res.StatusCode == 200 {
			var out struct {
				AccessToken string `json:"access_token"`
			}
			brokertest.Must(t, json.Unmarshal([]byte(body), &out))
			acknowledged[jti(t, out.AccessToken)] = true
		}
		return res.StatusCode
	}
	for range 5 {
		if code := issue(); code != 200 {
			t.Fatalf("client_credentials with the database up: %d", code)
		}
	}
	brokertest.Must(t, fx.AW.Flush(t.Context()))

	proxy.Cut()
	before := len(acknowledged)
	for range 40 {
		if code := issue(); code != 200 && code != 503 {
			t.Fatalf("client_credentials with the database down: %d, want 200 or 503", code)
		}
	}
	if len(acknowledged) == before {
		t.Fatal("no token was issued while the database was down: the test proves nothing")
	}
	// A refusal during the outage stands, and so must its oauth.rejected row.
	wrongSecret := func() *http.Response {
		r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(cc.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("svc", "not-the-secret")
		return fx.Do(r)
	}
	refused := 0
	for range 3 {
		switch code := wrongSecret().StatusCode; code {
		case 401:
			refused++
		case 503:
		default:
			t.Fatalf("a wrong client secret with the database down: %d, want 401 or 503", code)
		}
	}
	// The writer has met the outage: what it holds is not in the database.
	brokertest.Must(t, fx.AW.Flush(t.Context()))

	proxy.Restore()
	brokertest.Must(t, fx.AW.Flush(t.Context()))
	evs, err := fx.DB.Audit().List(t.Context(), store.AuditFilter{Action: "token.issued", Limit: 10000})
	brokertest.Must(t, err)
	stored := map[string]int{}
	for _, e := range evs {
		var d struct {
			JTI string `json:"jti"`
		}
		brokertest.Must(t, json.Unmarshal(e.Details, &d))
		stored[d.JTI]++
	}
	for j := range acknowledged {
		if stored[j] != 1 {
			t.Errorf("token %s acknowledged, its token.issued row stored %d times", j, stored[j])
		}
	}
	if len(evs) != len(acknowledged) {
		t.Fatalf("%d token.issued rows for %d acknowledged tokens", len(evs), len(acknowledged))
	}
	if got := fx.Rejections(t, ""); got != refused {
		t.Fatalf("%d oauth.rejected rows for %d refusals answered during the outage", got, refused)
	}
	if refused == 0 {
		t.Log("no refusal was answered during the outage (client authentication needed the database)")
	}
}

// jti reads a JWT's jti claim, unverified: the test issued it.
func jti(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	brokertest.Must(t, err)
	var c struct {
		JTI string `json:"jti"`
	}
	brokertest.Must(t, json.Unmarshal(b, &c))
	return c.JTI
}

// Issue 14, found by tools/chaos: PostgreSQL restarted (its connections closed,
// then accepting again) leaves the pool's connections dead without Gatehouse
// knowing; the next query on one fails ("unexpected EOF") while the database
// answers a ping again. That request is 503, a failure for want of the
// database that the client may retry, not a 500; and the next one is served.
func TestDatabaseRestartFailsAStaleConnectionWith503(t *testing.T) {
	proxy, dbURL := pgtest.NewProxy(t, pgtest.URL(t))
	fx := brokertest.NewOAuthFixture(t, map[string]string{"test-database-url": dbURL})
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"no-such-token"}}
	fx.Call(t, "/oauth2/token", "basic:web1", refresh).WantError(t, 400, "invalid_grant")

	proxy.Cut() // PostgreSQL stopped: the pooled connection is closed under Gatehouse
	proxy.Restore()
	res := fx.Post("/oauth2/token", "basic:web1", refresh)
	if body := brokertest.Body(t, res); res.StatusCode != 400 && res.StatusCode != 503 {
		t.Errorf("the first request after the restart: %d %s, want 503 (or served)", res.StatusCode, body)
	}
	fx.Call(t, "/oauth2/token", "basic:web1", refresh).WantError(t, 400, "invalid_grant")
}

// TestAdminAPIAnswers503WhenTheDatabaseIsDown: the admin API, like the pages and
// the OAuth endpoints, answers a call that failed for want of the database with
// 503 and Retry-After (a problem document), not a 500 (found by tools/chaos).
func TestAdminAPIAnswers503WhenTheDatabaseIsDown(t *testing.T) {
	proxy, dbURL := pgtest.NewProxy(t, pgtest.URL(t))
	fx := brokertest.NewOAuthFixture(t, map[string]string{"test-database-url": dbURL, "GATEHOUSE_REQUEST_TIMEOUT": "2s"})
	tok := fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	proxy.Cut()
	r := httptest.NewRequest("GET", "/api/admin/v1/apis", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	res := fx.Do(r)
	body := brokertest.Body(t, res)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" ||
		res.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("admin API with the database down: %d %v %s", res.StatusCode, res.Header, body)
	}
}
