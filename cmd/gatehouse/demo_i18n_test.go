//go:build demo

package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/templates"
)

var welsh = language.MustParse("cy")

// demoEnglishWords are words a Welsh demo page would show only if a string
// escaped the catalogue (the views below avoid them in their data).
var demoEnglishWords = regexp.MustCompile(`(?i)\b(the|your|you|sign|signed|in|with|and|not|access|token|tokens|app|again|refused|claims|scope|who|are|active|new|at|answer|try|someone|else|introspect|refresh|call|key|copy|without|proof|scheme|december)\b`)

// demoVisibleText is what a person reads of a page: text outside tags, code,
// pre and style (data: claims, tokens, identifiers), and the attributes read
// out (aria-label, title).
func demoVisibleText(page string) string {
	page = regexp.MustCompile(`(?s)<(style|pre|code|title)[^>]*>.*?</(style|pre|code|title)>`).ReplaceAllString(page, " ")
	var out strings.Builder
	for _, m := range regexp.MustCompile(`<[^>]*>|[^<]+`).FindAllString(page, -1) {
		if !strings.HasPrefix(m, "<") {
			out.WriteString(m + " ")
			continue
		}
		for _, a := range regexp.MustCompile(`\b(?:title|aria-label|alt)="([^"]*)"`).FindAllStringSubmatch(m, -1) {
			out.WriteString(a[1] + " ")
		}
	}
	return out.String()
}

// demoViewsForI18n are the demo app's page in each state that shows its own
// words: signed out, every problem, and signed in with everything shown.
func demoViewsForI18n() map[string]demoView {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	claims := claimsOf(map[string]any{"sub": "u1", "exp": float64(at.Unix()), "scope": "openid notes.read"})
	full := demoView{Scope: "openid notes.read", ID: claims, Access: claims, UserInfo: claims, IDJSON: "{}", AccessJSON: "{}", UserInfoJSON: "{}",
		Logout: "/logout", AccessToken: "eyJ", Acting: templates.M("Acting for %s as %s", "Alice Example (alice@oidc.example)", "Bob Example"),
		DelegationID: "d1", ACR: "urn:gatehouse:acr:security-key", AMR: "hwk mfa",
		Introspection: &demoIntrospection{Active: true, Claims: claims}, Refreshed: &at,
		Refused: refreshRefusal("invalid_grant"),
		APICalls: []demoAPICall{{Title: templates.M("The app, with its key"), Authorization: templates.M("%s scheme with a DPoP proof signed by the app's key", "DPoP"), Status: 200, Body: "{}"},
			{Title: templates.M("A copy of the token, without the key"), Authorization: templates.M("%s scheme, no proof", "Bearer"), Status: 401,
				WWWAuthenticate: []string{`DPoP error="invalid_token"`}}}}
	views := map[string]demoView{"signed-out": {}, "signed-in": full}
	plain := full
	plain.Acting, plain.ACR, plain.AMR, plain.Introspection, plain.Refreshed, plain.APICalls = templates.Msg{}, "", "", &demoIntrospection{}, nil, nil
	plain.Refused = refreshRefusal("")
	views["signed-in-plain"] = plain
	for _, code := range []string{"invalid_client", "unexpected_error"} {
		v := plain
		v.Refused = refreshRefusal(code)
		views["refused-"+code] = v
	}
	problems := map[string]demoProblem{"unreachable": (&demoApp{issuer: "http://localhost:8080"}).unreachable(),
		"not-recognised": problemNotRecognised, "wrong-server": problemWrongServer, "no-exchange": problemNoExchange,
		"not-verified": problemNotVerified, "cross-site": problemCrossSite, "introspection": introspectionUnanswered("502 Bad Gateway"),
		"api": apiUnanswered("http://127.0.0.1:8083/api/notes"), "described": authorizeProblem("invalid_request", "redirect_uri mismatch")}
	for _, code := range []string{"access_denied", "login_required", "invalid_scope", "server_error", "other"} {
		problems["authorize-"+code] = authorizeProblem(code, "")
	}
	for name, p := range problems {
		views["problem-"+name] = demoView{Problem: &p}
	}
	return views
}

// TestDemoPagesInEveryLocale renders the demo app's page in each state and the
// demo IdPs' pick pages in every language: a message missing from a catalogue
// fails it, and so does an English word on a Welsh page.
func TestDemoPagesInEveryLocale(t *testing.T) {
	// The pick page's English words, as the OIDC IdP gives them.
	var english providertest.PickText
	idp := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "c", Now: time.Now,
		Users:    []providertest.DemoUser{{Label: "Alice Example (alice@oidc.example), an administrator"}, {Label: "Bob Example (bob@oidc.example), staff"}},
		PickPage: func(_ http.ResponseWriter, _ *http.Request, t providertest.PickText) { english = t }})
	defer idp.Close()
	res, err := http.Get(idp.URL() + "/authorize?" + url.Values{"client_id": {"c"}, "response_type": {"code"},
		"code_challenge_method": {"S256"}, "redirect_uri": {"http://rp.example/cb"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(english.People) != 2 {
		t.Fatalf("the IdP gave the pick page %+v", english)
	}
	samlText := english
	samlText.Title, samlText.People = "Demo SAML identity provider", []providertest.PickPerson{{Label: "Carol Example (carol@saml.example)", Href: "/sso"}}

	for _, tag := range templates.Locales() {
		pages := map[string]func(ctx context.Context, w http.ResponseWriter){
			"pick-oidc": func(ctx context.Context, w http.ResponseWriter) { writeDemoPickPage(ctx, w, english, true) },
			"pick-saml": func(ctx context.Context, w http.ResponseWriter) { writeDemoPickPage(ctx, w, samlText, false) },
		}
		for name, v := range demoViewsForI18n() {
			pages["app-"+name] = func(ctx context.Context, w http.ResponseWriter) {
				writeDemoPage(ctx, w, 200, "http://localhost:8080", v)
			}
		}
		for name, write := range pages {
			t.Run(tag.String()+"/"+name, func(t *testing.T) {
				m := &templates.Missing{}
				rec := httptest.NewRecorder()
				write(templates.WithLocale(context.Background(), tag, m), rec)
				page := rec.Body.String()
				if k := m.Keys(); len(k) > 0 {
					t.Errorf("messages missing from the %s catalogue: %q", tag, k)
				}
				if !strings.Contains(page, `<html lang="`+tag.String()+`">`) {
					t.Errorf("no <html lang=%q>\n%s", tag, page)
				}
				if tag == welsh {
					if w := demoEnglishWords.FindAllString(demoVisibleText(page), -1); len(w) > 0 {
						t.Errorf("English on the Welsh page: %q\n%s", w, demoVisibleText(page))
					}
				}
			})
		}
	}
}

// TestDemoSpeaksWelsh: with Accept-Language: cy the running demo's app page,
// its refusals and the demo IdPs' pick page are in Welsh, and the demo app
// passes the language on to Gatehouse (ui_locales), whose sign-in page is in
// Welsh too.
func TestDemoSpeaksWelsh(t *testing.T) {
	env, out, _ := testEnv(nil)
	addr, stop := startDemo(t, env, filepath.Join(t.TempDir(), "demo-data"))
	defer stop()
	m := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/ +the demo app`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("banner does not name the demo app:\n%s", out)
	}
	appURL := m[1]
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: cyTransport{http.DefaultTransport},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (*http.Response, string) {
		t.Helper()
		res, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	welshPage := func(what, page string, wants ...string) {
		t.Helper()
		if !strings.Contains(page, `<html lang="cy">`) {
			t.Errorf("%s is not in Welsh:\n%s", what, page)
		}
		for _, want := range wants {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %q:\n%s", what, want, page)
			}
		}
	}

	_, page := get(appURL + "/")
	welshPage("the demo app", page, "<h1>Ap arddangos Gatehouse</h1>", ">Mewngofnodi gyda Gatehouse</a>", "tudalen gychwyn Gatehouse</a>")
	_, page = get(appURL + "/callback?state=forged&code=x")
	welshPage("the demo app's refusal", page, `<p data-testid="demo-error-message">Ni ddechreuwyd y mewngofnodi hwn yn y porwr hwn, neu cymerodd fwy na deg munud.</p>`)

	res, _ := get(appURL + "/login")
	authorize, err := url.Parse(res.Header.Get("Location"))
	if err != nil || authorize.Query().Get("ui_locales") != "cy" {
		t.Fatalf("the demo app's authorization request %q does not ask for Welsh", res.Header.Get("Location"))
	}
	// Gatehouse's sign-in page, in Welsh for the request's ui_locales even
	// to a browser that asks for English.
	c.Transport = enTransport{http.DefaultTransport}
	for i := 0; i < 5 && res.StatusCode/100 == 3; i++ {
		loc, _ := res.Request.URL.Parse(res.Header.Get("Location"))
		res, page = get(loc.String())
	}
	welshPage("Gatehouse's sign-in page", page, `data-testid="login-email"`)
	c.Transport = cyTransport{http.DefaultTransport}

	oidcAddr, _ := demoIdPAddrs(addr)
	_, page = get("http://" + oidcAddr + "/authorize?" + url.Values{"client_id": {"gatehouse-demo"}, "response_type": {"code"},
		"code_challenge_method": {"S256"}, "redirect_uri": {"http://localhost/cb"}}.Encode())
	welshPage("the demo OIDC IdP's pick page", page, "<h1>Pwy ydych chi?</h1>", "Alice Example (alice@oidc.example), gweinyddwr</a>")
}

// cyTransport and enTransport send the browser's language preference.
type cyTransport struct{ next http.RoundTripper }

func (t cyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept-Language", "cy-GB,cy;q=0.9,en;q=0.5")
	return t.next.RoundTrip(r)
}

type enTransport struct{ next http.RoundTripper }

func (t enTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept-Language", "en-GB,en;q=0.9")
	return t.next.RoundTrip(r)
}
