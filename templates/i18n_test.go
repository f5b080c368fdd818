package templates

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"golang.org/x/text/language"
)

// TestCatalogues: every language has every message English has and no other,
// each translation keeps its message's %-verbs (a translator dropping one
// would lose a name from the sentence), and a counted message has its other form.
func TestCatalogues(t *testing.T) {
	if got := Locales(); len(got) != 2 || got[0] != language.English || got[1] != welsh {
		t.Fatalf("Locales() = %v, want [en cy]", got)
	}
	en := readCatalogue(t, "en")
	for _, tag := range Locales() {
		c := readCatalogue(t, tag.String())
		for k := range en {
			if _, ok := c[k]; !ok {
				t.Errorf("%s lacks %q", tag, k)
			}
		}
		for k, v := range c {
			if _, ok := en[k]; !ok {
				t.Errorf("%s has %q, which English has not", tag, k)
			}
			var forms map[string]string
			if json.Unmarshal(v, &forms) != nil {
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					t.Errorf("%s %q: %v", tag, k, err)
				}
				forms = map[string]string{"other": s}
			}
			if _, ok := forms["other"]; !ok {
				t.Errorf("%s %q has no other form", tag, k)
			}
			for f, s := range forms {
				if want, got := verbs(k), verbs(s); !slices.Equal(want, got) && !strings.Contains(k, "%[") {
					t.Errorf("%s %q (%s): verbs %q, want %q", tag, k, f, got, want)
				}
			}
		}
	}
}

var verbRE = regexp.MustCompile(`%(\[\d+\])?[sd]`)

func verbs(s string) []string {
	v := verbRE.FindAllString(s, -1)
	slices.Sort(v)
	return v
}

func readCatalogue(t *testing.T, name string) map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("locales", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	for k := range c {
		if strings.HasPrefix(k, "//") {
			delete(c, k)
		}
	}
	return c
}

// sourceFiles are the non-test Go and templ files whose strings pages show.
func sourceFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, root := range []string{".", "../broker", "../providers", "../cmd/gatehouse"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && root != "." && d.Name() == "templates" {
				return fs.SkipDir
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".templ") || strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") && !strings.HasSuffix(p, "_templ.go")) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// TestCataloguesHaveNoDeadStrings: every message is written somewhere in the
// source as a string literal, so a message whose English changed or whose page
// went away does not linger untranslatable.
func TestCataloguesHaveNoDeadStrings(t *testing.T) {
	var src strings.Builder
	for _, f := range sourceFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	for _, k := range MessageKeys(language.English) {
		if !strings.Contains(src.String(), strconv.Quote(k)) {
			t.Errorf("%q is in the catalogue but in no source file", k)
		}
	}
}

// TestErrorPagesInCatalogues: every title, message and next step of a
// web.UserError written in the broker, and every page title outside the admin
// console, is a message of every catalogue: error pages show them translated.
func TestErrorPagesInCatalogues(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	for _, f := range sourceFiles(t) {
		if !strings.HasSuffix(f, ".go") || !strings.HasPrefix(f, "../broker") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			var typ string
			switch x := cl.Type.(type) {
			case *ast.Ident:
				typ = x.Name
			case *ast.SelectorExpr:
				typ = x.Sel.Name
			}
			fields := map[string]bool{"UserError": true, "Page": !strings.Contains(f, "/admin/")}
			if !fields[typ] {
				return true
			}
			for _, e := range cl.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				name, _ := kv.Key.(*ast.Ident)
				lit, ok := kv.Value.(*ast.BasicLit)
				if name == nil || !ok || lit.Kind != token.STRING || !slices.Contains([]string{"Title", "Message", "Next"}, name.Name) {
					continue
				}
				s, _ := strconv.Unquote(lit.Value)
				checked++
				for _, tag := range Locales() {
					if !known[tag][s] {
						t.Errorf("%s: %s %q is not in the %s catalogue", fset.Position(lit.Pos()), name.Name, s, tag)
					}
				}
			}
			return true
		})
	}
	if checked < 50 {
		t.Fatalf("checked %d strings: the test reads the wrong tree", checked)
	}
}

// englishWords are words a Welsh page would show only if a string escaped the
// catalogue (the test data below avoids them).
var englishWords = regexp.MustCompile(`(?i)\b(the|your|you|sign|signed|account|and|with|access|page|not|this|continue|cancel|allow|deny|error|request|session|browser|ago|minutes|never|none|revoke|link|app|wants|permissions|back|go|choose|organisation|yesterday|just|now|delegations?|january|december)\b`)

// visibleText is what a person sees or hears of a page: text outside tags,
// and the attributes read out or shown (title, aria-label, alt, data-label
// for narrow screens' table cells).
func visibleText(html string) string {
	var out strings.Builder
	for _, m := range regexp.MustCompile(`(?s)<(?:script|style)[^>]*>.*?</(?:script|style)>|<[^>]*>|[^<]+`).FindAllString(html, -1) {
		if !strings.HasPrefix(m, "<") {
			out.WriteString(m + " ")
			continue
		}
		for _, a := range regexp.MustCompile(`\b(?:title|aria-label|alt|data-label|placeholder)="([^"]*)"`).FindAllStringSubmatch(m, -1) {
			out.WriteString(a[1] + " ")
		}
	}
	return out.String()
}

// TestEveryPageInEveryLocale renders every page people see, with realistic
// data and each branch that shows its own text, in every language: a message
// missing from a catalogue fails it, and so does an English word on a Welsh
// page (a string that was never put through the catalogue).
func TestEveryPageInEveryLocale(t *testing.T) {
	for _, tag := range Locales() {
		for name, c := range pagesForI18n() {
			t.Run(tag.String()+"/"+name, func(t *testing.T) {
				m := &Missing{}
				var buf bytes.Buffer
				if err := c.Render(WithLocale(context.Background(), tag, m), &buf); err != nil {
					t.Fatal(err)
				}
				if k := m.Keys(); len(k) > 0 {
					t.Errorf("messages missing from the %s catalogue: %q", tag, k)
				}
				if !strings.Contains(buf.String(), `<html lang="`+tag.String()+`">`) {
					t.Errorf("no <html lang=%q>", tag)
				}
				if tag == welsh {
					if w := englishWords.FindAllString(visibleText(buf.String()), -1); len(w) > 0 {
						t.Errorf("English on the Welsh page: %q", w)
					}
				}
			})
		}
	}
}

// TestMissingMessagesAreCaught: the lookup records a message the catalogue
// lacks and shows it in English; the page test above relies on it.
func TestMissingMessagesAreCaught(t *testing.T) {
	m := &Missing{}
	ctx := WithLocale(context.Background(), welsh, m)
	if got := T(ctx, "A sentence nobody translated about %s", "X"); got != "A sentence nobody translated about X" {
		t.Errorf("T = %q", got)
	}
	if got := T(ctx, "Sign in"); got != "Mewngofnodi" {
		t.Errorf("T(Sign in) = %q", got)
	}
	if got := m.Keys(); !slices.Equal(got, []string{"A sentence nobody translated about %s"}) {
		t.Errorf("missing %q", got)
	}
	if englishWords.FindString(visibleText(`<p title="Sign in">Mewngofnodi</p>`)) == "" {
		t.Error("the English heuristic misses an English title")
	}
}

// TestNegotiate: the first list that names a supported language decides;
// regional variants match (cy-GB is Welsh); the default is last.
func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		prefs []string
		want  language.Tag
	}{
		{nil, language.English},
		{[]string{"", "", "cy-GB,cy;q=0.9,en;q=0.8"}, welsh},
		{[]string{"", "cy en", "en-GB"}, welsh},
		{[]string{"en", "cy", "cy"}, language.English},
		{[]string{"", "fr de", "de, cy;q=0.5"}, welsh},
		{[]string{"zz-not a tag!!", "", "fr"}, language.English},
	} {
		if got := Negotiate(language.English, tc.prefs...); got != tc.want {
			t.Errorf("Negotiate(%q) = %v, want %v", tc.prefs, got, tc.want)
		}
	}
	if got := Negotiate(welsh, "", "", "fr"); got != welsh {
		t.Errorf("default cy: %v", got)
	}
}

func pagesForI18n() map[string]templ.Component {
	page := Page{Title: "Your account", SignedInAs: "Aled Jones", SignOutCSRF: "c"}
	anon := Page{Title: "Sign in"}
	p := func(title string) Page { return Page{Title: title, SignedInAs: "Aled Jones"} }
	prov := []ProviderChoice{{ID: "gig", Name: "GIG Cymru", Href: "/login/gig"}, {ID: "prifysgol", Name: "Prifysgol", Href: "/login/prifysgol"}}
	now := mustTime("2026-12-07T12:00:00Z")
	w := func(ago string) When { return When{At: now.Add(-mustDuration(ago)), Now: now} }
	return map[string]templ.Component{
		"login":             Login(LoginView{Page: anon, CSRF: "c", ReturnTo: "/account"}),
		"login-last-used":   Login(LoginView{Page: anon, LastUsed: &prov[0], Providers: prov}),
		"login-continue-as": Login(LoginView{Page: anon, ContinueAs: &AccountChoice{Name: "Aled Jones", Email: "aled@gig.example", Href: "/r"}, Providers: prov}),
		"login-several":     Login(LoginView{Page: anon, Providers: prov, Message: "Several organisations use this email domain. Choose yours."}),
		"login-none":        Login(LoginView{Page: anon, Message: "No sign-in providers are configured yet. Ask your administrator."}),
		"login-no-match":    Login(LoginView{Page: anon, Providers: prov, Message: "No organisation is set up for this email address. Choose one below, or check the address."}),
		"autopost":          AutoPost(AutoPostView{Page: Page{Title: "Returning to the application"}, Action: "https://rp.example/cb", Fields: []Field{{"code", "x"}}}),
		"link-choice":       LinkChoice(LinkChoiceView{Page: Page{Title: "An account with this email exists"}, ProviderName: "Prifysgol", Email: "aled@gig.example", Providers: prov[:1]}),
		"consent": Consent(ConsentView{Page: p("Allow access?"), ClientID: "nodiadau", ClientName: "Nodiadau", LogoURL: "https://rp.example/logo.png",
			HomeURL: "https://nodiadau.example/", HomeHost: "nodiadau.example", APIName: "Cynlluniau Gofal", ReturnHost: "nodiadau.example",
			UserName: "Aled Jones", UserEmail: "aled@gig.example", SwitchURL: "/switch", InsecureReturn: true,
			Scopes: []ConsentScope{{Name: "openid", Description: "Know who you are: your Gatehouse account ID."}, {Name: "profile", Description: "See your name.", New: true},
				{Name: "email", Description: "See your email address and whether it is verified."}, {Name: "offline_access", Description: "Keep this access while you are not using the application."},
				{Name: "cynlluniau:darllen", Description: "Darllen cynlluniau gofal"}},
			NotGranted: []ConsentScope{{Name: "a", Refused: RefusedRole}, {Name: "b", Refused: RefusedClient}, {Name: "c", Refused: RefusedUnknown}},
			ActFor: []ConsentDelegation{{ID: "d1", GrantorName: "Dr Lewis", Scopes: "Cynlluniau Gofal: Darllen", Until: now},
				{ID: "d2", GrantorName: "Dr Lewis", PassedOnBy: "Dr Owen", Scopes: "Cynlluniau Gofal: Darllen", Until: now}}}),
		"consent-plain": Consent(ConsentView{Page: p("Allow access?"), ClientName: "Nodiadau", UserName: "aled@gig.example", UserEmail: "aled@gig.example", ReturnHost: "nodiadau.example"}),
		"error": Error(ErrorView{Page: Page{Title: "Account already linked"}, Status: 409, RequestID: "abcd1234",
			Message: "That account at %s is already linked to another Gatehouse account.", MessageArgs: []any{"GIG Cymru"},
			Next: "Sign in with it to use that Gatehouse account, or ask your administrator."}),
		"error-no-id":   Error(ErrorView{Page: Page{Title: "Page not found"}, Status: 404, Message: "There is nothing at this address."}),
		"logout":        Logout(LogoutView{Page: p("Sign out"), SignedIn: true}),
		"logout-anon":   Logout(LogoutView{Page: Page{Title: "Sign out"}}),
		"signed-out":    SignedOut(SignedOutView{Page: Page{Title: "Signed out"}, Note: "Your organisation's sign-in service did not confirm the sign-out."}),
		"continue":      Continue(ContinueView{Page: Page{Title: "Continue to sign in?"}, ProviderName: "GIG Cymru", Who: "aled@gig.example"}),
		"rp-logout":     RPLogout(RPLogoutView{Page: p("Sign out"), ClientName: "Nodiadau", Request: "r"}),
		"rp-logout-any": RPLogout(RPLogoutView{Page: p("Sign out")}),
		"home":          Home(HomeView{Page: Page{Title: "Welcome"}, Issuer: "https://id.example"}),
		"home-demo": Home(HomeView{Page: Page{Title: "Welcome", SignedInAs: "Aled Jones"}, Issuer: "https://id.example", Demo: &DemoIntro{AppURL: "http://127.0.0.1:8083/",
			People: []DemoPerson{{Name: "Alice Example", Email: "alice@oidc.example", Provider: "OIDC",
				Shows: "A teacher who signs in with SAML: she may read and change notes and see grades."}}}}),
		"account": Account(AccountView{Page: page, Name: "Aled Jones", Email: "aled@gig.example", PictureURL: "https://gig.example/a.png", Roles: []string{"staff", "admin"},
			Identities: []IdentityRow{{ProviderID: "gig", ProviderName: "GIG Cymru", Subject: "s1", Email: "aled@gig.example", LinkedAt: w("400h"), LastLoginAt: w("3m")},
				{ProviderID: "prifysgol", ProviderName: "Prifysgol", Subject: "s2", LastLoginAt: w("2000h")}},
			Sessions: []SessionRow{{ID: "s", ProviderName: "GIG Cymru", IP: "192.0.2.7", Browser: "Firefox", OS: "Linux", Started: w("2h"), Current: true},
				{ID: "t", ProviderName: "GIG Cymru", IP: "192.0.2.8", OS: "Android", Started: w("30h")}, {ID: "u", IP: "192.0.2.9", Browser: "Safari", Started: w("0s")},
				{ID: "v", IP: "192.0.2.10", Started: w("50h")}},
			LinkChoices: []ProviderChoice{{ID: "x", Name: "Prifysgol"}}, LinkedName: "Prifysgol", RevokedApp: "Nodiadau", EndedSession: true,
			Apps:             []AppRow{{ClientID: "nodiadau", Name: "Nodiadau", Scopes: "openid profile", LastUsed: w("26h")}, {ClientID: "n2", Name: "Calendr"}},
			DelegationsGiven: 2, DelegationsReceived: 1}),
		"account-empty":       Account(AccountView{Page: page, Name: "Aled Jones", Identities: []IdentityRow{{ProviderID: "gig", ProviderName: "GIG Cymru"}}}),
		"account-revoke":      AccountConfirm(AccountConfirmView{Page: p("Revoke access?"), App: "Nodiadau", Field: "client", Value: "nodiadau"}),
		"account-end-current": AccountConfirm(AccountConfirmView{Page: p("End this session?"), Browser: "Firefox", OS: "Linux", IP: "192.0.2.7", Current: true}),
		"account-end-other":   AccountConfirm(AccountConfirmView{Page: p("End this session?"), Browser: "Firefox", OS: "Linux", IP: "192.0.2.7"}),
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}
