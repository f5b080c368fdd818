package signin_test

import (
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/broker/signin"
	"github.com/gatehouse/gatehouse/broker/web"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// cookieRecorder is a transport that keeps every Set-Cookie Gatehouse sends.
type cookieRecorder struct {
	next http.RoundTripper
	host string
	mu   sync.Mutex
	seen []recordedCookie
}

type recordedCookie struct {
	path string // the request that set it
	raw  string
}

func (c *cookieRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(r)
	if err == nil && r.URL.Host == c.host {
		c.mu.Lock()
		for _, v := range res.Header.Values("Set-Cookie") {
			c.seen = append(c.seen, recordedCookie{r.Method + " " + r.URL.Path, v})
		}
		c.mu.Unlock()
	}
	return res, err
}

// TestWEB08_CookieFlagsSignInRoundTrips parses every Set-Cookie of full OIDC and SAML sign-in
// and logout round trips (login page with its CSRF secret, flow cookies,
// session, last-used provider, clearing on logout) and fails on any deviation:
// Secure, HttpOnly, SameSite=Lax (None only for the SAML POST-binding flow
// cookie, WEB-09), Path=/, no Domain, and the __Host- prefix.
func TestWEB08_CookieFlagsSignInRoundTrips(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	rec := &cookieRecorder{next: e.TS.Client().Transport, host: mustURL(e.TS.URL).Host}
	for _, email := range []string{"alice@oidc.example", "carol@saml.example"} {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Transport: rec,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		_, page := e.SignIn(c, email)
		if !strings.Contains(page, `data-testid="account"`) {
			t.Fatalf("%s: not signed in:\n%s", email, page)
		}
		e.Follow(c, e.Get(c, "/login")) // the last-used provider is read back
		_, page = e.Follow(c, e.Get(c, "/logout"))
		_, page = e.Follow(c, e.PostForm(c, "/logout", brokertest.FormFields(t, page, "/logout")))
		if !strings.Contains(page, `data-testid="signed-out"`) {
			t.Fatalf("%s: not signed out:\n%s", email, page)
		}
	}
	names := map[string]bool{}
	for _, rc := range rec.seen {
		ck, err := http.ParseSetCookie(rc.raw)
		if err != nil {
			t.Errorf("%s: unparsable Set-Cookie %q: %v", rc.path, rc.raw, err)
			continue
		}
		names[ck.Name] = true
		wantSameSite := http.SameSiteLaxMode
		if ck.Name == signin.SAMLFlowCookieSecure {
			wantSameSite = http.SameSiteNoneMode
		}
		var bad []string
		if !ck.Secure {
			bad = append(bad, "not Secure")
		}
		if !ck.HttpOnly {
			bad = append(bad, "not HttpOnly")
		}
		if ck.SameSite != wantSameSite {
			bad = append(bad, "SameSite wrong")
		}
		if ck.Path != "/" {
			bad = append(bad, "Path "+ck.Path)
		}
		if ck.Domain != "" {
			bad = append(bad, "Domain "+ck.Domain)
		}
		if !strings.HasPrefix(ck.Name, "__Host-") {
			bad = append(bad, "no __Host- prefix")
		}
		if ck.MaxAge == 0 && ck.Expires.IsZero() && ck.Name != signin.SAMLFlowCookieSecure && ck.Name != signin.FlowCookieSecure {
			bad = append(bad, "no explicit lifetime")
		}
		if len(bad) > 0 {
			t.Errorf("%s set %s: %s", rc.path, rc.raw, strings.Join(bad, ", "))
		}
	}
	for _, want := range []string{web.BrowserCookieSecure, signin.FlowCookieSecure, signin.SAMLFlowCookieSecure, signin.LastProviderCookieSecure} {
		if !names[want] {
			t.Errorf("the round trips never set %s (saw %v)", want, names)
		}
	}
}
