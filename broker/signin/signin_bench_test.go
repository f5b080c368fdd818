package signin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/upstream"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// benchEnv re-reads provider versions as often as production does (every few
// seconds, not per request), so the benchmarks measure what a login costs; the
// loops move the clock on a millisecond per login.
func benchEnv() brokertest.Options { return brokertest.Options{CheckEvery: upstream.DefaultCheckEvery} }

// BenchmarkOIDCCallback measures GET /callback/{provider}: flow cookie, the
// spent-flow check, code exchange with the in-process OP over loopback, ID
// token verification with a cached JWKS, user lookup, and the sign-in
// transaction (flow key, login record, session). Starting the flow at the OP
// is outside the timer.
func BenchmarkOIDCCallback(b *testing.B) {
	e := brokertest.NewSigninEnv(b, benchEnv())
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.SignIn(brokertest.NewClient(e), "alice@oidc.example") // the user exists; discovery and JWKS are cached
	benchLogins(b, e, func(c *http.Client) *http.Request {
		return httptest.NewRequest(http.MethodGet, oidcCallback(e, c, "corp"), nil)
	})
}

// BenchmarkSAMLACS measures POST /saml/{provider}/acs with a 2048-bit
// RSA-SHA256 signed assertion: form parsing, flow cookie, the spent-flow
// check, signature and protocol checks, user lookup, and the sign-in
// transaction (flow and assertion keys, login record, session). Crafting and
// signing the response (the IdP's work) is outside the timer.
func BenchmarkSAMLACS(b *testing.B) {
	e := brokertest.NewSigninEnv(b, benchEnv())
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	benchLogins(b, e, func(c *http.Client) *http.Request {
		body := url.Values{"SAMLResponse": {craftResponse(e, "uni", startSAML(e, c, "uni")).encode()}}.Encode()
		req := httptest.NewRequest(http.MethodPost, e.TS.URL+"/saml/uni/acs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	})
}

// benchLogins times the server's handling of one login's callback per iteration;
// callback starts the login in a new browser and returns the request the IdP sends
// it back with, all outside the timer.
func benchLogins(b *testing.B, e *brokertest.SigninEnv, callback func(c *http.Client) *http.Request) {
	srv := e.Srv()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		c := brokertest.NewClient(e)
		req := callback(c)
		req.RemoteAddr = "192.0.2.1:1234"
		for _, ck := range c.Jar.Cookies(mustURL(e.TS.URL)) {
			req.AddCookie(ck)
		}
		srv.SignIn().ResetLimits()
		endAllSessions(e) // a typical login: the user has no other session to count or evict
		e.Clk.Add(time.Millisecond)
		w := httptest.NewRecorder()
		b.StartTimer()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusSeeOther {
			b.Fatalf("%s: %d %s", req.URL.Path, w.Code, w.Body)
		}
	}
}

// endAllSessions deletes every session, so each benchmarked login is measured as a
// user's only session rather than one that keeps hitting the per-user cap.
func endAllSessions(e *brokertest.SigninEnv) {
	never := e.Clk.Now().AddDate(100, 0, 0)
	if _, err := e.DB.Sessions().DeleteExpired(context.Background(), never, never); err != nil {
		e.T.Fatal(err)
	}
}
