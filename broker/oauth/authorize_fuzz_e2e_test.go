package oauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// registeredRedirect reports whether u is a redirect URI registered for one of
// AuthzEnv's clients, with the response parameters appended (RFC 6749 §3.1.2:
// exact match, the registered query kept; loopback any port for the native
// client, RFC 8252 §7.3).
func registeredRedirect(u string) bool {
	for _, reg := range []string{brokertest.AppCB, "https://app.test/cb?a=b", "https://app2.test/cb", "https://first.test/cb"} {
		if u == reg || strings.HasPrefix(u, reg+"?") || strings.Contains(reg, "?") && strings.HasPrefix(u, reg+"&") {
			return true
		}
	}
	p, err := url.Parse(u)
	return err == nil && p.Scheme == "http" && p.Hostname() == "127.0.0.1" && p.Path == "/cb" && p.User == nil
}

// FuzzAuthorizeRequest throws arbitrary query strings at the authorization
// endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) from a browser that is signed
// in or not: never a 5xx; a browser leaves Gatehouse only for the upstream IdP
// or a registered redirect URI (RFC 6749 §4.1.2.1, no open redirect), by
// Location or form_post; a code is stored exactly when one is sent to a
// registered redirect URI, and only for a request with a PKCE challenge
// (AS-PKCE-01); without a session nothing is stored. The seeds run as regular
// tests.
func FuzzAuthorizeRequest(f *testing.F) {
	e := brokertest.NewAuthzEnv(f)
	cookies := e.SignedIn().Jar.Cookies(mustParse(f, e.TS.URL))
	q := brokertest.NewAuthzReq("first", "https://first.test/cb", "openid notes.read")
	// The first seed reaches issueCode (first-party: no consent page).
	r := httptest.NewRequest(http.MethodGet, e.TS.URL+q.URL(), nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	e.Srv().ServeHTTP(w, r)
	if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, "https://first.test/cb?code=") {
		f.Fatalf("the seed request got no code: %d %q", w.Code, loc)
	}
	for _, s := range []string{
		q.Params.Encode(),
		brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read").Params.Encode(),
		brokertest.NewAuthzReq("native", "http://127.0.0.1:9999/cb", "openid").Params.Encode(),
		brokertest.NewAuthzReq("web", "https://app.test/cb?a=b", "openid").Params.Encode() + "&response_mode=form_post",
		brokertest.NewAuthzReq("first", "https://evil.test/cb", "openid").Params.Encode(),
		brokertest.NewAuthzReq("first", "", "openid").Params.Encode() + "&prompt=none&max_age=0",
		"response_type=code&client_id=first&redirect_uri=https%3A%2F%2Ffirst.test%2Fcb&scope=openid",
		"response_type=code&client_id=first&client_id=web&scope=openid%20notes.read&code_challenge=x",
		"response_type=token&client_id=web&redirect_uri=https%3A%2F%2Fapp.test%2Fcb&login_hint=alice%40oidc.example",
		"client_id=%00&redirect_uri=%ZZ", "", "&&&=",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, rawQuery string, signedIn bool) {
		count := func(table string) int { // not e.Count: that reports to the F
			n, err := e.DB.Count(context.Background(), table)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := map[string]int{}
		for _, table := range []string{"auth_codes", "consents", "sessions", "refresh_tokens"} {
			before[table] = count(table)
		}
		r := httptest.NewRequest(http.MethodGet, e.TS.URL+"/oauth2/authorize", nil)
		r.URL.RawQuery = rawQuery
		if signedIn {
			for _, c := range cookies {
				r.AddCookie(c)
			}
		}
		w := httptest.NewRecorder()
		e.Srv().ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%d for %q:\n%s", w.Code, rawQuery, w.Body)
		}
		// Where the browser goes next: a Location, or a form_post form.
		next := w.Header().Get("Location")
		if action, fields, ok := brokertest.AutoPostForm(w.Body.String()); ok && w.Code == 200 {
			next = action + "?" + fields.Encode()
		}
		abs := next
		if u, err := url.Parse(next); err == nil && next != "" {
			abs = mustParse(t, e.TS.URL+"/oauth2/authorize").ResolveReference(u).String()
		}
		external := next != "" && !strings.HasPrefix(abs, e.TS.URL+"/") && !strings.HasPrefix(abs, e.OIDC.URL()+"/")
		if external && !registeredRedirect(abs) {
			t.Fatalf("sent the browser to %q for %q", abs, rawQuery)
		}
		sentCode := external && mustParse(t, abs).Query().Get("code") != ""
		issued := count("auth_codes") - before["auth_codes"]
		if sentCode != (issued == 1) || issued > 1 {
			t.Fatalf("sent a code: %v, stored %d codes, for %q", sentCode, issued, rawQuery)
		}
		if issued == 1 && !strings.Contains(rawQuery, "code_challenge=") {
			t.Fatalf("a code without a PKCE challenge for %q", rawQuery)
		}
		for table, n := range before {
			if table != "auth_codes" && count(table) != n || !signedIn && issued != 0 {
				t.Fatalf("%s rows changed (%d), signed in %v, for %q", table, count(table)-n, signedIn, rawQuery)
			}
		}
	})
}

func mustParse(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
