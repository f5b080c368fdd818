//go:build demo

package main

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var hiddenField = regexp.MustCompile(`name="([a-z_]+)" value="([^"]*)"`)

// demoSignIn drives the demo app as a cookie-jar browser: the app → Gatehouse →
// sign-in page (email) → the demo IdP (picking user n) → consent (approve) → back
// at the app, whose page it returns.
func demoSignIn(t *testing.T, appURL, email string, user string) string {
	t.Helper()
	return demoBrowse(t, appURL+"/login", email, user)
}

// demoBrowse is demoSignIn from start, which answers the device pages too
// (RFC 8628: the code the page was opened with, then Allow).
func demoBrowse(t *testing.T, start, email string, user string) string {
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
			return page
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
	return ""
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
			// Times as dates (issue 13, "Demo"), the seconds only beside them.
			if !regexp.MustCompile(`<dt><code>exp</code></dt><dd><time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">\w{3} \d{1,2} \w{3} \d{4}, \d\d:\d\d:\d\d UTC</time>`).MatchString(alice) {
				t.Errorf("alice's page does not show exp as a date:\n%s", alice)
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
