//go:build demo

package main

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

var hiddenField = regexp.MustCompile(`name="([a-z_]+)" value="([^"]*)"`)

// demoSignIn drives the demo app as a cookie-jar browser: the app → Gatehouse →
// sign-in page (email) → the demo IdP (picking user n) → consent (approve) → back
// at the app, whose page it returns.
func demoSignIn(t *testing.T, appURL, email string, user string) string {
	t.Helper()
	_, page := demoSignInClient(t, appURL, email, user)
	return page
}

// demoSignInClient is demoSignIn that also returns the browser, to go on
// pressing the page's buttons.
func demoSignInClient(t *testing.T, appURL, email string, user string) (*http.Client, string) {
	t.Helper()
	return demoBrowseClient(t, appURL+"/login", email, user)
}

// demoBrowse is demoSignIn from start, which answers the device pages too
// (RFC 8628: the code the page was opened with, then Allow).
func demoBrowse(t *testing.T, start, email string, user string) string {
	t.Helper()
	_, page := demoBrowseClient(t, start, email, user)
	return page
}

// demoBrowseClient is demoBrowse that also returns the browser.
func demoBrowseClient(t *testing.T, start, email string, user string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if loc := res.Header.Get("Location"); loc != "" {
			u, _ := res.Request.URL.Parse(loc)
			if u.Path == "/authorize" && u.Query().Get("user") == "" { // the demo IdP: pick who you are
				q := u.Query()
				q.Set("user", user)
				u.RawQuery = q.Encode()
			}
			res.Body.Close()
			if res, err = c.Get(u.String()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		page := string(b)
		fields := url.Values{}
		for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
			fields.Set(m[1], html.UnescapeString(m[2]))
		}
		var action string
		switch {
		case strings.Contains(page, `data-testid="login-form"`):
			action = "/login"
			fields.Set("email", email)
		case strings.Contains(page, `data-testid="consent-form"`):
			action = "/oauth2/consent"
			fields.Set("decision", "approve")
		case strings.Contains(page, `data-testid="device-form"`):
			action = "/device"
		case strings.Contains(page, `data-testid="device-confirm-form"`):
			action = "/device/confirm"
			fields.Set("decision", "approve")
		default:
			return c, page
		}
		target, _ := res.Request.URL.Parse(action)
		req, _ := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", target.Scheme+"://"+target.Host)
		if res, err = c.Do(req); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("too many hops")
	return nil, ""
}

// TestDemoApp: the demo registers its API and app (again on restart, without
// error) and its app signs people in through Gatehouse: alice (admin, staff) and
// bob (staff) get visibly different scopes.
func TestDemoApp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo-data")
	for round := range 2 { // the second start finds everything registered
		env, out, _ := testEnv(nil)
		_, stop := startDemo(t, env, dir)
		m := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/ +the demo app`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("banner does not name the demo app:\n%s", out)
		}
		if round == 1 {
			alice := demoSignIn(t, m[1], "alice@oidc.example", "0")
			if !strings.Contains(alice, "openid profile email notes.read notes.write admin") || !strings.Contains(alice, "alice@oidc.example") {
				t.Errorf("alice's page:\n%s", alice)
			}
			// Times as dates (issue 13, "Demo"; templates.DateTime), the seconds only beside them.
			if !regexp.MustCompile(`<dt><code>exp</code></dt><dd><time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">\d{1,2} \w+ \d{4}, \d\d:\d\d UTC</time>`).MatchString(alice) {
				t.Errorf("alice's page does not show exp as a date:\n%s", alice)
			}
			// "Sign in with a security key (step-up)" asks for Gatehouse's
			// documented acr (issue 15).
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			res, err := noFollow.Get(m[1] + "/login?security_key=1")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if loc, _ := url.Parse(res.Header.Get("Location")); loc == nil || loc.Query().Get("acr_values") != "urn:gatehouse:acr:security-key" {
				t.Errorf("the step-up button's request: %s", res.Header.Get("Location"))
			}
			if !strings.Contains(alice, `data-testid="demo-signin-key"`) || !strings.Contains(alice, `data-testid="demo-amr"`) {
				t.Errorf("alice's page has no step-up button or amr:\n%s", alice)
			}
			bob := demoSignIn(t, m[1], "bob@oidc.example", "1")
			if !strings.Contains(bob, "<code>openid profile email notes.read notes.write</code>") {
				t.Errorf("bob's page:\n%s", bob)
			}
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDemoNotesAPIWithDPoP: issue 15 "Done when" — the demo app gets a
// DPoP-bound access token (cnf.jkt, RFC 9449 §6.1) and the Demo Notes API,
// through broker/rs, accepts it with the app's proof and refuses the same token
// presented without one, showing the exact WWW-Authenticate; UserInfo still
// works with the bound token (the app sends proofs there too).
func TestDemoNotesAPIWithDPoP(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo-data")
	env, out, _ := testEnv(nil)
	_, stop := startDemo(t, env, dir)
	defer stop()
	m := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/ +the demo app`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("banner does not name the demo app:\n%s", out)
	}
	c, page := demoSignInClient(t, m[1], "alice@oidc.example", "0")
	if !strings.Contains(page, "<dt><code>cnf</code></dt>") || !strings.Contains(page, `data-testid="demo-userinfo"><dl class="facts claims"><dt>`) {
		t.Fatalf("the access token is not DPoP-bound, or UserInfo failed:\n%s", page)
	}
	req, _ := http.NewRequest(http.MethodPost, m[1]+"/call-api", nil)
	req.Header.Set("Origin", m[1])
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	page = html.UnescapeString(string(b))
	calls := strings.Split(page, `data-testid="demo-api-call"`)
	if len(calls) != 3 {
		t.Fatalf("want two API calls on the page:\n%s", page)
	}
	if !strings.Contains(calls[1], "DPoP scheme with a DPoP proof") || !strings.Contains(calls[1], "HTTP 200") ||
		!strings.Contains(calls[1], `"owner":"`) || !strings.Contains(calls[1], `"bound_to_key":"`) {
		t.Errorf("the call with the proof:\n%s", calls[1])
	}
	if !strings.Contains(calls[2], "Bearer scheme, no proof") || !strings.Contains(calls[2], "HTTP 401") ||
		!strings.Contains(calls[2], `WWW-Authenticate: DPoP error="invalid_token"`) || strings.Contains(calls[2], `"owner"`) {
		t.Errorf("the call without the proof:\n%s", calls[2])
	}
}

// TestDemoDPoPTransportNonce: RFC 9449 §8 — the demo app's DPoP client, told
// use_dpop_nonce with a DPoP-Nonce, sends the request once more with the
// nonce in a fresh proof; any other error that carries a nonce is not sent
// again (a code would be redeemed twice).
func TestDemoDPoPTransportNonce(t *testing.T) {
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p := jwtPayload(r.Header.Get("DPoP"))
		n, _ := p["nonce"].(string)
		calls = append(calls, r.URL.Path+" "+string(b)+" nonce="+n)
		w.Header().Set("DPoP-Nonce", "n1")
		switch {
		case r.URL.Path == "/token" && n != "n1":
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"use_dpop_nonce"}`)
		case r.URL.Path == "/token":
			io.WriteString(w, `{"access_token":"x"}`)
		default:
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"invalid_grant"}`)
		}
	}))
	defer srv.Close()
	key, err := newDemoDPoP()
	if err != nil {
		t.Fatal(err)
	}
	var tokenURL atomic.Pointer[string]
	tu := srv.URL + "/token"
	tokenURL.Store(&tu)
	c := &http.Client{Transport: dpopTransport{key: key, tokenURL: &tokenURL}}
	res, err := c.Post(tu, "application/x-www-form-urlencoded", strings.NewReader("code=c1"))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("%v %v", res, err)
	}
	res.Body.Close()
	// Another endpoint's error with a nonce: not retried.
	tu2 := srv.URL + "/other"
	tokenURL.Store(&tu2)
	key.nonce.Store(nil)
	res, err = c.Post(tu2, "application/x-www-form-urlencoded", strings.NewReader("code=c2"))
	if err != nil || res.StatusCode != 400 {
		t.Fatalf("%v %v", res, err)
	}
	res.Body.Close()
	want := []string{"/token code=c1 nonce=", "/token code=c1 nonce=n1", "/other code=c2 nonce="}
	if strings.Join(calls, "|") != strings.Join(want, "|") {
		t.Fatalf("calls %q, want %q", calls, want)
	}
}
