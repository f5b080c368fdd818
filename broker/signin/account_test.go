package signin_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// withUserAgent is a browser (brokertest.NewClient) that sends ua.
func withUserAgent(e *brokertest.SigninEnv, ua string) *http.Client {
	c := brokertest.NewClient(e)
	c.Transport = uaTransport{ua, c.Transport}
	return c
}

type uaTransport struct {
	ua   string
	next http.RoundTripper
}

func (t uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", t.ua)
	return t.next.RoundTrip(r)
}

const (
	uaAndroidChrome = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
	uaLinuxFirefox  = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
)

var endLink = regexp.MustCompile(`href="/account/sessions/end\?session=([^"]+)"`)

// TestAccountSessionsInWordsEndConfirmed: the account page names each signed-in
// browser in words ("Chrome on Android", never the raw User-Agent), says when
// it started relative to now with the exact time in <time datetime>, and each
// End button's accessible name says which session it ends. End asks first, on
// a page of its own; its form needs the CSRF token (WEB-01: without it nothing
// ends); once confirmed the other browser is signed out and the account page
// says so — and a crafted ?ended= link naming a live session says nothing.
func TestAccountSessionsInWordsEndConfirmed(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	phone, desk := withUserAgent(e, uaAndroidChrome), withUserAgent(e, uaLinuxFirefox)
	e.SignIn(phone, "alice@oidc.example")
	e.SignIn(desk, "alice@oidc.example")
	e.Clk.Add(5 * time.Minute)

	_, page := e.Follow(desk, e.Get(desk, "/account"))
	for _, want := range []string{"Chrome on Android", "Firefox on Linux", ">5 minutes ago</time>", `<time datetime="`,
		`End <span class="skip">the session in <span>Chrome on Android</span>`} {
		if !strings.Contains(page, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if strings.Contains(page, "Gecko/20100101") || strings.Contains(page, "KHTML") {
		t.Error("the account page shows a raw User-Agent")
	}
	if n := strings.Count(page, ">Sign out<"); n != 1 {
		t.Errorf("%d Sign out buttons or links, want 1", n)
	}
	var phoneSession string
	for _, m := range endLink.FindAllStringSubmatch(page, -1) {
		_, confirm := e.Follow(desk, e.Get(desk, "/account/sessions/end?session="+m[1]))
		if strings.Contains(confirm, "Chrome on Android") {
			phoneSession = m[1]
		}
	}
	if phoneSession == "" {
		t.Fatalf("no End link leads to a confirmation naming the phone:\n%s", page)
	}
	if _, p := e.Follow(desk, e.Get(desk, "/account?ended="+url.QueryEscape(phoneSession))); strings.Contains(p, "That browser is signed out") {
		t.Error("a crafted ?ended= link claims a live session ended")
	}

	// Without the CSRF token: refused, the phone still signed in.
	if res := e.PostForm(desk, "/account/sessions/end", url.Values{"session": {phoneSession}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("end without CSRF token: %d", res.StatusCode)
	}
	if _, p := e.Follow(phone, e.Get(phone, "/account")); !strings.Contains(p, `data-testid="account"`) {
		t.Fatal("the phone was signed out by a request without a CSRF token")
	}

	_, confirm := e.Follow(desk, e.Get(desk, "/account/sessions/end?session="+url.QueryEscape(phoneSession)))
	f := brokertest.FormFields(t, confirm, "/account/sessions/end")
	if f.Get("session") != phoneSession || f.Get("csrf_token") == "" {
		t.Fatalf("confirmation form: %v", f)
	}
	_, page = e.Follow(desk, e.PostForm(desk, "/account/sessions/end", f))
	if !strings.Contains(page, "That browser is signed out") || strings.Contains(page, "Chrome on Android") {
		t.Errorf("after End:\n%s", page)
	}
	if _, p := e.Follow(phone, e.Get(phone, "/account")); strings.Contains(p, `data-testid="account"`) {
		t.Error("the phone is still signed in")
	}
}

// TestAccountLinkButtonsSayLink: each provider to link is offered by a button
// reading "Link", whose accessible name names the provider.
func TestAccountLinkButtonsSayLink(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	c := brokertest.NewClient(e)
	_, page := e.SignIn(c, "alice@oidc.example")
	if !regexp.MustCompile(`data-testid="link-uni">Link <span class="skip">your account at [^<]+</span></button>`).MatchString(page) {
		t.Errorf("link button:\n%s", page)
	}
}
