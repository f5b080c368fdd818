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
				// A translation uses every argument of its key, in any order.
				if want, got := verbs(k), verbs(s); !slices.Equal(want, got) {
					t.Errorf("%s %q (%s): uses arguments %v, want %v", tag, k, f, got, want)
				}
			}
		}
	}
}

var verbRE = regexp.MustCompile(`%(?:\[(\d+)\])?[sdqv]`)

// verbs are the arguments s uses, by number, as fmt counts them: "%s %s" and
// "%[2]s %[1]s" both use 1 and 2.
func verbs(s string) []int {
	var v []int
	next := 1
	for _, m := range verbRE.FindAllStringSubmatch(s, -1) {
		if m[1] != "" {
			next, _ = strconv.Atoi(m[1])
		}
		if !slices.Contains(v, next) {
			v = append(v, next)
		}
		next++
	}
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

// calleeName is the name a call calls: f(...) or x.f(...).
func calleeName(fun ast.Expr) string {
	switch fn := fun.(type) {
	case *ast.Ident:
		return fn.Name
	case *ast.SelectorExpr:
		return fn.Sel.Name
	}
	return ""
}

// consolePart1 reports whether f is a file of the admin console whose pages
// are in the catalogues: the home, apps, APIs, audit log and bootstrap.
func consolePart1(f string) bool {
	dir, name := filepath.Split(f)
	return strings.HasSuffix(dir, "/admin/") &&
		slices.Contains([]string{"admin.go", "home.go", "apps.go", "apis.go", "clients.go", "audit.go", "charts.go", "bootstrap.go"}, name)
}

// TestErrorPagesInCatalogues: every title, message and next step of a
// web.UserError written in the broker, every page title outside the admin
// console and in its first part, and every sentence the broker composes with templates.M, is a
// message of every catalogue: pages show them translated.
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
		want := func(what string, lit *ast.BasicLit) {
			s, _ := strconv.Unquote(lit.Value)
			checked++
			for _, tag := range Locales() {
				if !known[tag][s] {
					t.Errorf("%s: %s %q is not in the %s catalogue", fset.Position(lit.Pos()), what, s, tag)
				}
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok && len(call.Args) > 0 {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "sendUpstream" && len(call.Args) >= 4 {
					if title, ok := call.Args[3].(*ast.BasicLit); ok && title.Kind == token.STRING {
						want("sendUpstream title", title)
					}
				}
				// A security-key ceremony's refusal (broker/passkeys refuse, said)
				// is shown by webauthn.js in the page's language.
				if name := calleeName(call.Fun); (name == "refuse" && len(call.Args) == 6) || (name == "said" && len(call.Args) == 2) {
					if msg, ok := call.Args[len(call.Args)-1].(*ast.BasicLit); ok && msg.Kind == token.STRING && msg.Value != `""` {
						want(name+" message", msg)
					}
				}
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				switch fn := call.Fun.(type) {
				case *ast.SelectorExpr:
					if x, ok := fn.X.(*ast.Ident); ok && x.Name == "templates" && fn.Sel.Name == "M" {
						want("templates.M", lit)
					}
					// The console's pages (a.page): those of its first part.
					if fn.Sel.Name == "page" && consolePart1(f) {
						want("page title", lit)
					}
				case *ast.Ident:
					if fn.Name == "page" && strings.Contains(f, "/delegation/") {
						want("page title", lit)
					}
				}
				return true
			}
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
			fields := map[string]bool{"UserError": true, "Page": !strings.Contains(f, "/admin/") || consolePart1(f)}
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
				want(name.Name, lit)
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
				if err := c.Render(WithLocale(WithLanguageSwitch(context.Background(), "/login"), tag, m), &buf); err != nil {
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
		// admin console, part 2
		"admin-people": AdminPeople(AdminPeopleView{Page: p("People"), Query: "aled",
			People: []AdminPersonRow{{ID: "u1", Name: "Aled Jones", Email: "aled@gig.example"}, {ID: "u2", Name: "Bethan Huws", Email: "bethan@gig.example", Disabled: true}},
			Next:   "/admin/people?q=aled&after=x"}),
		"admin-people-none": AdminPeople(AdminPeopleView{Page: p("People"), Query: "neb"}),
		"admin-person":      AdminPerson(adminPersonView(now)),
		"admin-person-disabled-empty": AdminPerson(AdminPersonView{Page: p("Person"), Heading: "Bethan Huws", Base: "/admin/people/u2",
			Name: "Bethan Huws", Email: "bethan@gig.example", Created: now.AddDate(-1, 0, 0), Disabled: true, Role: "dau air",
			Problems: []Msg{M("This is the last admin: grant the admin role to someone else first. Nothing was changed."),
				M("“%s” is not a role: a role is one word of printable characters.", "dau air"), M("They have the role %s already.", "golygydd")}}),
		"admin-person-disable": AdminPersonConfirm(AdminPersonConfirmView{Page: p("Disable this person?"), Back: "/admin/people/u1",
			Question: M("Disable %s (%s)?", "Aled Jones", "aled@gig.example"),
			Consequence: M("%[2]s can no longer sign in. %[3]s. %[1]d delegations they gave or received end. Enabling them later lets them sign in again but brings none of this back. The last admin cannot be disabled.", 2, "Aled Jones",
				M("Their %d active sessions end now, their refresh tokens are revoked and their access tokens turn inactive at introspection at once", 1)),
			Button: M("Disable")}),
		"admin-person-sign-out": AdminPersonConfirm(AdminPersonConfirmView{Page: p("End their sessions?"), Back: "/admin/people/u1",
			Question: M("End every session of %s (%s)?", "Aled Jones", "aled@gig.example"),
			Consequence: M("Their account stays enabled. %s. They can sign in again.",
				M("Their %d active sessions end now, their refresh tokens are revoked and their access tokens turn inactive at introspection at once", 3)),
			Button: M("End sessions")}),
		"admin-person-revoke-role": AdminPersonConfirm(AdminPersonConfirmView{Page: p("Revoke this role?"), Back: "/admin/people/u1",
			Question:    M("Revoke the role %s of %s (%s)?", "admin", "Aled Jones", "aled@gig.example"),
			Consequence: M("%s loses the role %s from their next request: the console, and scopes given for the role, are refused to sessions and tokens from then on. A role their provider's role rules give them stays. The last admin cannot lose the role.", "Aled Jones", "admin"),
			Button:      M("Revoke")}),
		"admin-person-revoke-role-other": AdminPersonConfirm(AdminPersonConfirmView{Page: p("Revoke this role?"), Back: "/admin/people/u1",
			Question:    M("Revoke the role %s of %s (%s)?", "golygydd", "Aled Jones", "aled@gig.example"),
			Consequence: M("%s loses the role %s from their next request: the console, and scopes given for the role, are refused to sessions and tokens from then on. A role their provider's role rules give them stays.", "Aled Jones", "golygydd"),
			Button:      M("Revoke")}),
		"admin-security-keys": AdminSecurityKeys(AdminSecurityKeysView{Page: p("Security keys"), Heading: M("Security keys of %s", "Aled Jones"),
			Person: "/admin/people/u1", Notice: M("The key was removed."), Keys: []AdminSecurityKeyRow{
				{ID: "k1", Name: "YubiKey 5", Added: now.AddDate(0, -2, 0), LastUsed: now.Add(-time.Hour), Remove: "/r1"},
				{ID: "k2", Name: "Ffôn", Passkey: true, Added: now.AddDate(0, -1, 0), CloneWarning: true, Remove: "/r2"}}}),
		"admin-security-keys-none": AdminSecurityKeys(AdminSecurityKeysView{Page: p("Security keys"), Heading: M("Security keys of %s", "Bethan Huws"),
			Person: "/admin/people/u2"}),
		"admin-security-key-remove": AdminPersonConfirm(AdminPersonConfirmView{Page: p("Remove this key?"), Back: "/admin/people/u1/security-keys",
			Question:    M("Remove the key %s of %s?", "YubiKey 5", "Aled Jones"),
			Consequence: M("They can no longer use it. Where a security key is required, they add a new one when next asked for it."), Button: M("Remove")}),
		"admin-providers": AdminProviders(AdminProvidersView{Page: p("Identity providers"), Notice: M("The identity provider was saved."), Providers: []AdminProviderRow{
			{ID: "gig", Name: "GIG Cymru", Kind: "oidc", Enabled: true, LastSignIn: w("30s"), LastErrorAt: w("3h"), LastError: "invalid_response", Linked: 1234},
			{ID: "prifysgol", Name: "Prifysgol", Kind: "saml", MetadataFetched: w("26h"), CertExpiry: now.AddDate(0, 0, 20), CertWarn: true, Linked: 2},
			{ID: "coleg", Name: "Coleg", Kind: "saml", MetadataUploaded: true, CertExpiry: now.AddDate(1, 0, 0)}}}),
		"admin-providers-none": AdminProviders(AdminProvidersView{Page: p("Identity providers")}),
		"admin-provider-new": AdminProviderNew(AdminProviderNewView{Page: p("Add an identity provider"), Issuer: "https://login.gig.example",
			Problems: []Msg{M("The issuer's discovery document could not be fetched: %s", "502"), M("The metadata cannot be used: %s", "EntityDescriptor"), M("Give the metadata URL or the metadata file.")}}),
		"admin-provider-new-oidc": AdminProviderForm(AdminProviderFormView{Page: p("Add an identity provider"), Heading: M("Add an identity provider"), New: true,
			Fields: adminOIDCFields(), Discovery: &AdminDiscovery{Issuer: "https://login.gig.example", Authorization: "https://login.gig.example/authorize",
				Token: "https://login.gig.example/token", JWKS: "https://login.gig.example/jwks", Algorithms: "RS256"},
			Problems: []Msg{M("Role rule “%s” is not claim | value | role.", "groups gweinyddwyr"), M("Authorization parameter “%s” is not name=value.", "prompt"),
				M("Authorization parameter “%s” is given twice.", "prompt"), M("The kind of provider must be oidc or saml."), M("The provider could not be reached: %s", "502")}}),
		"admin-provider-new-oidc-pkce": AdminProviderForm(AdminProviderFormView{Page: p("Add an identity provider"), Heading: M("Add an identity provider"), New: true,
			Fields: adminOIDCFields(), Discovery: &AdminDiscovery{Issuer: "https://login.gig.example", Authorization: "https://login.gig.example/authorize",
				Token: "https://login.gig.example/token", Userinfo: "https://login.gig.example/userinfo", JWKS: "https://login.gig.example/jwks",
				EndSession: "https://login.gig.example/logout", Algorithms: "RS256 ES256", PKCE: true}}),
		"admin-provider-edit-oidc": AdminProviderForm(AdminProviderFormView{Page: p("Identity provider"), Heading: M("Identity provider %s", "GIG Cymru"),
			Notice: M("The identity provider was enabled."), Fields: adminOIDCFields(func(f *AdminProviderFields) { f.ClientSecretSet = true }),
			Version: 3, Enabled: true, Back: "/admin/providers/gig",
			Conflict: []AdminFieldChange{{Field: M("Name"), Stored: M("%s", "GIG Cymru"), Yours: M("%s", "GIG")}, {Field: M("Trusted for linking"), Stored: M("yes"), Yours: M("no")},
				{Field: M("Email domains"), Stored: M("%s", "gig.example")}, {Field: M("Client ID"), Stored: M("%s", "gatehouse")}, {Field: M("Scopes"), Stored: M("%s", "openid")},
				{Field: M("Role rules")}, {Field: M("Mapping: subject")}, {Field: M("Mapping: email")}, {Field: M("Mapping: name")}, {Field: M("Mapping: groups")},
				{Field: M("Token exchange")}, {Field: M("Exchange audiences")}, {Field: M("IdP-initiated sign-in")}, {Field: M("Signed assertions")},
				{Field: M("Authorization parameters")}, {Field: M("Signing algorithms")}, {Field: M("UserInfo claims")}, {Field: M("Signed requests")},
				{Field: M("Encrypted assertions")}}}),
		"admin-provider-new-saml": AdminProviderForm(AdminProviderFormView{Page: p("Add an identity provider"), Heading: M("Add an identity provider"), New: true,
			Fields: adminSAMLFields(), Metadata: adminSAMLMetadata(now)}),
		"admin-provider-edit-saml": AdminProviderForm(AdminProviderFormView{Page: p("Identity provider"), Heading: M("Identity provider %s", "Prifysgol"),
			Fields: adminSAMLFields(), Version: 2, Back: "/admin/providers/prifysgol", Metadata: adminSAMLMetadata(now), SP: adminSPInfo()}),
		"admin-provider-disable": AdminProviderConfirm(AdminProviderConfirmView{Page: p("Disable an identity provider"), Back: "/admin/providers/gig",
			Heading: M("Disable %s", "GIG Cymru"), Question: M("Disable the identity provider %s (%s)?", "GIG Cymru", "gig"), Button: M("Disable"),
			Consequences: []Msg{M("%d sessions signed in with it end at once, and the tokens issued under them are revoked.", 1),
				M("The %d people linked at it cannot sign in with it until it is enabled again; their identities stay linked.", 2)}}),
		"admin-provider-delete": AdminProviderConfirm(AdminProviderConfirmView{Page: p("Delete an identity provider"), Back: "/admin/providers/gig",
			Heading: M("Delete %s", "GIG Cymru"), Question: M("Delete the identity provider %s (%s)?", "GIG Cymru", "gig"), Button: M("Delete"),
			Consequences: []Msg{M("%d sessions signed in with it end at once, and the tokens issued under them are revoked.", 0),
				M("The %d identities linked at it are removed: those people keep their accounts and can sign in with another provider they have linked; whoever has no other cannot sign in any more.", 1),
				M("Apps allowed to exchange its tokens lose that permission.")}}),
		"admin-provider-test": AdminProviderTest(AdminProviderTestView{Page: p("Test sign-in"), Heading: M("Test sign-in: %s", "gig"), Back: "/admin/providers/gig",
			Claims:  []AdminClaim{{Name: "sub", Value: "248289761001"}, {Name: "email", Value: "aled@gig.example"}, {Name: "groups", Value: "gweinyddwyr, staff"}},
			Subject: "248289761001", Email: "aled@gig.example", EmailVerified: true, Name: "Aled Jones", Groups: []string{"gweinyddwyr", "staff"}, Roles: []string{"admin"}}),
		"admin-provider-test-unverified": AdminProviderTest(AdminProviderTestView{Page: p("Test sign-in"), Heading: M("Test sign-in: %s", "gig"), Back: "/admin/providers/gig",
			Subject: "248289761001", Email: "aled@gig.example"}),
		"admin-provider-test-refused": AdminProviderTest(AdminProviderTestView{Page: p("Test sign-in"), Heading: M("Test sign-in: %s", "gig"), Back: "/admin/providers/gig",
			Refused: "access_denied", Message: "Your organisation's sign-in service did not allow the sign-in."}),
		"admin-provider-test-other": AdminProviderTest(AdminProviderTestView{Page: p("Test sign-in"), Heading: M("Test sign-in: %s", "gig"), Back: "/admin/providers/gig",
			Refused: "identity_for_other_provider", Message: "The response is for another provider."}),
		"test-sign-in-done": TestSignInDone(TestSignInDoneView{Page: Page{Title: "Test sign-in finished"}, Provider: "GIG Cymru", TestID: "t-4f2a", Code: "eyJhbGciOi…"}),
		"login":             Login(LoginView{Page: anon, CSRF: "c", ReturnTo: "/account"}),
		"login-last-used":   Login(LoginView{Page: anon, LastUsed: &prov[0], Providers: prov}),
		"login-continue-as": Login(LoginView{Page: anon, ContinueAs: &AccountChoice{Name: "Aled Jones", Email: "aled@gig.example", Href: "/r"}, Providers: prov}),
		"login-several":     Login(LoginView{Page: anon, Providers: prov, Message: "Several organisations use this email domain. Choose yours."}),
		"login-none":        Login(LoginView{Page: anon, Message: "No sign-in providers are configured yet. Ask your administrator."}),
		"login-no-match":    Login(LoginView{Page: anon, Providers: prov, Message: "No organisation is set up for this email address. Choose one below, or check the address."}),
		"autopost":          AutoPost(AutoPostView{Page: Page{Title: "Returning to the application"}, Action: "https://rp.example/cb", Fields: []Field{{"code", "x"}}}),
		"autopost-signin":   AutoPost(AutoPostView{Page: Page{Title: "Signing you in"}, Action: "https://idp.example/sso"}),
		"autopost-signout":  AutoPost(AutoPostView{Page: Page{Title: "Signing you out"}, Action: "https://idp.example/slo"}),
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
				Shows: "A teacher who signs in with SAML: she may read and change notes and see grades."}},
			MTLSCommand: "curl --cert demo-mtls.pem https://127.0.0.1:8084/oauth2/token"}}),
		"account": Account(AccountView{Page: page, Name: "Aled Jones", Email: "aled@gig.example", PictureURL: "https://gig.example/a.png", Roles: []string{"staff", "admin"},
			Identities: []IdentityRow{{ProviderID: "gig", ProviderName: "GIG Cymru", Subject: "s1", Email: "aled@gig.example", LinkedAt: w("400h"), LastLoginAt: w("3m")},
				{ProviderID: "prifysgol", ProviderName: "Prifysgol", Subject: "s2", LastLoginAt: w("2000h")}},
			Sessions: []SessionRow{{ID: "s", ProviderName: "GIG Cymru", IP: "192.0.2.7", Browser: "Firefox", OS: "Linux", Started: w("2h"), Current: true},
				{ID: "t", ProviderName: "GIG Cymru", IP: "192.0.2.8", OS: "Android", Started: w("30h")}, {ID: "u", IP: "192.0.2.9", Browser: "Safari", Started: w("0s")},
				{ID: "v", IP: "192.0.2.10", Started: w("50h")}},
			LinkChoices: []ProviderChoice{{ID: "x", Name: "Prifysgol"}}, LinkedName: "Prifysgol", RevokedApp: "Nodiadau", EndedSession: true,
			Apps:             []AppRow{{ClientID: "nodiadau", Name: "Nodiadau", Scopes: "openid profile", LastUsed: w("26h")}, {ClientID: "n2", Name: "Calendr"}},
			DelegationsGiven: 2, DelegationsReceived: 1}),
		"account-security-keys": SecurityKeys(SecurityKeysView{Page: p("Security keys and passkeys"), Required: true, CanAdd: true, Notice: "Your security key was added.",
			Keys: []SecurityKeyRow{{ID: "k1", Name: "Allwedd las", Kind: "Security key", Added: w("400h"), LastUsed: w("3m"), Used: true},
				{ID: "k2", Name: "Gliniadur", Kind: "Passkey", Added: w("30h"), CloneWarning: true}}}),
		"account-security-keys-none":   SecurityKeys(SecurityKeysView{Page: p("Security keys and passkeys"), CanAdd: true, Notice: "The security key was removed."}),
		"account-security-keys-stepup": SecurityKeys(SecurityKeysView{Page: p("Security keys and passkeys"), StepUpURL: "/security-key", Keys: []SecurityKeyRow{{ID: "k1", Name: "Allwedd", Kind: "Passkey", Added: w("2h")}}}),
		"account-security-keys-limit":  SecurityKeys(SecurityKeysView{Page: p("Security keys and passkeys"), AtLimit: true}),
		"step-up":                      StepUp(StepUpView{Page: p("Use your security key"), HasKeys: true, ReturnTo: "/account"}),
		"step-up-no-keys":              StepUp(StepUpView{Page: p("Use your security key"), AddURL: "/account/security-keys"}),
		"security-key-remove":          SecurityKeyRemove(SecurityKeyRemoveView{Page: p("Remove a security key"), ID: "k1", Name: "Allwedd las"}),
		"device-enter":                 DeviceEnter(DeviceEnterView{Page: p("Connect a device"), UserCode: "WDJB-MJHT"}),
		"device-enter-problem":         DeviceEnter(DeviceEnterView{Page: p("Connect a device"), Problem: "That code is not valid, or it has expired. Check the code on your device and try again."}),
		"device-confirm": DeviceConfirm(DeviceConfirmView{Page: p("Allow access from a device?"), ClientName: "Nodiadau", LogoURL: "https://rp.example/logo.png",
			HomeURL: "https://nodiadau.example/", HomeHost: "nodiadau.example", APIName: "Cynlluniau Gofal", UserName: "Aled Jones", UserCode: "WDJB-MJHT",
			Scopes:     []ConsentScope{{Name: "openid", Description: "Know who you are: your Gatehouse account ID."}, {Name: "profile", Description: "See your name.", New: true}},
			NotGranted: []ConsentScope{{Name: "a", Refused: RefusedRole}}}),
		"device-confirm-plain": DeviceConfirm(DeviceConfirmView{Page: p("Allow access from a device?"), ClientName: "Nodiadau", UserName: "Aled Jones", UserCode: "WDJB-MJHT"}),
		"device-approved":      DeviceDone(DeviceDoneView{Page: p("Device"), Approved: true, ClientName: "Nodiadau"}),
		"device-denied":        DeviceDone(DeviceDoneView{Page: p("Device"), ClientName: "Nodiadau"}),
		"account-empty":        Account(AccountView{Page: page, Name: "Aled Jones", Identities: []IdentityRow{{ProviderID: "gig", ProviderName: "GIG Cymru"}}}),
		"account-revoke":       AccountConfirm(AccountConfirmView{Page: p("Revoke access?"), App: "Nodiadau", Field: "client", Value: "nodiadau"}),
		"account-end-current":  AccountConfirm(AccountConfirmView{Page: p("End this session?"), Browser: "Firefox", OS: "Linux", IP: "192.0.2.7", Current: true}),
		"account-end-other":    AccountConfirm(AccountConfirmView{Page: p("End this session?"), Browser: "Firefox", OS: "Linux", IP: "192.0.2.7"}),
		"delegations":          Delegations(delegationsView(now)),
		"delegations-empty":    Delegations(DelegationsView{Page: p("Delegated access")}),
		"delegation-revoke": DelegationConfirm(DelegationConfirmView{Page: p("Revoke access"), Question: M("Revoke %s's access to %s?", "Dr Lewis", "Cynlluniau"),
			Consequence: M("%s will no longer be able to %s in %s for you, and the tokens they got with it stop working at once. Anything they passed it on to ends too.",
				"Dr Lewis", List{"darllen", "newid"}, "Cynlluniau"), Button: M("Revoke %s's access to %s", "Dr Lewis", "Cynlluniau"), TestID: "confirm-revoke"}),
		"delegation-decline": DelegationConfirm(DelegationConfirmView{Page: p("Decline access"), Question: M("Decline %s's access to %s?", "Dr Lewis", "Cynlluniau"),
			Consequence: M("You will no longer be able to act for %[1]s in %[2]s, and the tokens you got with it stop working at once. Only %[1]s can give it to you again.",
				"Dr Lewis", "Cynlluniau"), Button: M("Decline %s's access to %s", "Dr Lewis", "Cynlluniau"), TestID: "confirm-decline"}),
		"delegation-activity": DelegationActivity(activityView(now)),
		"delegation-activity-empty": DelegationActivity(DelegationActivityView{Page: p("Activity"),
			Heading: M("What %s did with your access to %s", "Dr Lewis", "Cynlluniau")}),
		"give-nothing": GiveAccess(GiveAccessView{Page: p("Give access"), Nothing: true}),
		"give-apis": GiveAccess(GiveAccessView{Page: p("Give access"), APIs: []DelegationAPIChoice{{Audience: "https://c.example", Name: "Cynlluniau", URL: "/g"},
			{Audience: "https://n.example", Name: "Nodiadau", URL: "/h"}}}),
		"give-form":    GiveAccess(giveView(now, false)),
		"give-pass-on": GiveAccess(giveView(now, true)),
		"give-review": GiveReview(GiveReviewView{Page: p("Check before you give access"), Who: "Dr Lewis", APIName: "Cynlluniau", Scopes: []string{"Darllen"},
			Until: Moment{At: now.Add(24 * time.Hour), Now: now}, Note: "Shifft nos", MayPassOn: true,
			Summary: M("%s will be able to %s in %s until %s. You can take this back at any time.", "Dr Lewis", List{"darllen"}, "Cynlluniau", Moment{At: now.Add(24 * time.Hour), Now: now})}),
		"give-review-no-pass-on": GiveReview(GiveReviewView{Page: p("Check before you give access"), Who: "Dr Lewis", APIName: "Cynlluniau",
			Until: Moment{At: now.AddDate(1, 0, 0), Now: now}, Summary: M("%s will be able to %s in %s until %s. You can take this back at any time.", "Dr Lewis", List{"a", "b", "c"}, "Cynlluniau", Moment{At: now, Now: now})}),
		// admin console, part 1
		"admin-home":             AdminHome(adminHomeView(now)),
		"admin-bootstrap":        AdminBootstrap(AdminBootstrapView{Page: p("First administrator"), Name: "Aled Jones", Email: "aled@gig.example", Token: "t"}),
		"admin-apps":             AdminApps(adminAppsView(now)),
		"admin-apps-empty":       AdminApps(AdminAppsView{Page: p("Apps"), Notice: M("The app was deleted, its tokens revoked and its consents deleted.")}),
		"admin-app-new":          AdminAppForm(adminAppFormView(now, true)),
		"admin-app-edit":         AdminAppForm(adminAppFormView(now, false)),
		"admin-app-edit-public":  AdminAppForm(AdminAppFormView{Page: p("Edit an app"), Heading: M("Edit %s", "Calendr"), Action: "/admin/apps/calendr", Fields: AdminAppFields{ID: "calendr", Name: "Calendr", Public: true}}),
		"admin-app-added":        AdminAppSecret(AdminAppSecretView{Page: p("App added"), ID: "nodiadau", Name: "Nodiadau", Secret: "gh_7Qz9xKc2"}),
		"admin-app-rotated":      AdminAppSecret(AdminAppSecretView{Page: p("Secret rotated"), ID: "nodiadau", Name: "Nodiadau", Secret: "gh_7Qz9xKc2", Rotated: true}),
		"admin-app-added-public": AdminAppSecret(AdminAppSecretView{Page: p("App added"), ID: "calendr", Name: "Calendr"}),
		"admin-app-rotate":       AdminAppRotate(AdminAppRotateView{Page: p("Rotate the secret"), Name: "Nodiadau", Action: "/r", Back: "/admin/apps/nodiadau"}),
		"admin-app-delete": AdminConfirm(AdminConfirmView{Page: p("Delete the app"), Back: "/admin/apps/nodiadau", Question: M("Delete the app %s (%s)?", "Nodiadau", "nodiadau"),
			Consequence: M("It can no longer sign people in or get tokens. Every refresh token and access token issued to it is revoked at once, on every replica, and the consents people gave it are deleted: an app added again under the same ID starts with none.")}),
		"admin-apis": AdminAPIs(AdminAPIsView{Page: p("APIs"), Notice: M("The API was saved."), APIs: []AdminAPIRow{
			{ID: "cynlluniau", Name: "Cynlluniau Gofal", Audience: "https://cynlluniau.example/api", Scopes: "darllen newid", Delegation: M("up to %s", Span(7*24*time.Hour))},
			{ID: "nodiadau", Name: "Nodiadau", Audience: "https://nodiadau.example/api", Scopes: "nodiadau.darllen", Delegation: M("not allowed")}}}),
		"admin-apis-empty": AdminAPIs(AdminAPIsView{Page: p("APIs"), Notice: M("The API was deleted.")}),
		"admin-api-new": AdminAPIForm(AdminAPIFormView{Page: p("Add an API"), New: true, Action: "/admin/apis/new",
			Problems: []Msg{M("Longest delegation %s is not a duration like 168h.", `"wythnos"`), M("An API with this ID or audience exists already.")}}),
		"admin-api-edit": AdminAPIForm(AdminAPIFormView{Page: p("Edit an API"), Heading: M("Edit %s", "Cynlluniau Gofal"), Action: "/admin/apis/cynlluniau", Version: 3,
			Fields: AdminAPIFields{ID: "cynlluniau", Name: "Cynlluniau Gofal", Audience: "https://cynlluniau.example/api", Scopes: "darllen | Darllen cynlluniau gofal | staff",
				DelegationAllowed: true, MaxDuration: "168h", DelegableScopes: "darllen", Redelegation: true},
			Yours:    &AdminAPIFields{Name: "Cynlluniau", Audience: "https://cynlluniau.example/v2", Scopes: "darllen"},
			Problems: []Msg{M("Another API has this audience already, or someone else changed this API meanwhile: open it again and repeat the change.")}}),
		"admin-api-delete": AdminConfirm(AdminConfirmView{Page: p("Delete the API"), Back: "/admin/apis/cynlluniau",
			Question: M("Delete the API %s (%s)?", "Cynlluniau Gofal", "https://cynlluniau.example/api"),
			Consequence: M("It is removed from the apps that use it (%s): they can no longer get tokens for it. Tokens issued already stay valid until they expire.",
				List{"Nodiadau", "Calendr"})}),
		"admin-api-delete-unused": AdminConfirm(AdminConfirmView{Page: p("Delete the API"), Back: "/admin/apis/nodiadau",
			Question:    M("Delete the API %s (%s)?", "Nodiadau", "https://nodiadau.example/api"),
			Consequence: M("Apps can no longer get tokens for it. Tokens issued already stay valid until they expire.")}),
		"admin-audit":       AdminAudit(adminAuditView(now)),
		"admin-audit-empty": AdminAudit(AdminAuditView{Page: p("Audit log"), Filter: AdminAuditFilter{Provider: "gig", Outcome: "success"}, ExportCSV: "/c", ExportJSONL: "/j"}),
		"admin-audit-problems": AdminAudit(AdminAuditView{Page: p("Audit log"), Filter: AdminAuditFilter{Outcome: "x", Since: "ddoe"},
			Problems: []Msg{M("outcome must be %s or %s.", `"success"`, `"refusal"`), M("%s is not a time like 2026-12-07T14:00:00Z or 2026-12-07.", "since"),
				M("after is not a cursor this API returned."), M("More than %d events match: narrow the time range (since, until) and export in parts.", 50000)}}),
	}
}

func delegationsView(now time.Time) DelegationsView {
	row := func(id string, status Msg, used time.Time) DelegationRow {
		return DelegationRow{ID: id, Who: "Dr Lewis", APIName: "Cynlluniau", Scopes: []string{"Darllen"}, Status: status, StatusKey: "active",
			Until: Moment{At: now.Add(48 * time.Hour), Now: now}, LastUsed: Moment{At: used, Now: now}, Note: "Shifft nos",
			Access: M("%s's access to %s", "Dr Lewis", "Cynlluniau"), Active: true, PassOnURL: "/p", RevokeURL: "/r", DeclineURL: "/d", ActivityURL: "/a"}
	}
	var out, in []DelegationRow
	for i, s := range []Msg{M("Active"), M("Active, expiring within a day"), M("Expired"), M("Declined"), M("Ended: the account that gave it was disabled"),
		M("Ended: the account it was given to was disabled"), M("Ended: the access it came from is no longer held"), M("Ended: the access it was passed on from ended"), M("Revoked")} {
		out = append(out, row("o"+strconv.Itoa(i), s, now.Add(-time.Hour)))
		in = append(in, row("i"+strconv.Itoa(i), s, time.Time{}))
	}
	return DelegationsView{Page: Page{Title: "Delegated access", SignedInAs: "Aled Jones"}, Outgoing: out, Incoming: in,
		Notice: M("%s can now %s in %s until %s.", "Dr Lewis", List{"darllen", "newid"}, "Cynlluniau", Moment{At: now.AddDate(0, 0, 1), Now: now})}
}

func activityView(now time.Time) DelegationActivityView {
	at := Moment{At: now.Add(-time.Hour), Now: now}
	from, in, what := M(" from %s", "192.0.2.7"), M(" in %s", "Calendr"), M(" (%s)", List{"darllen"})
	var e []ActivityEntry
	for _, m := range []Msg{
		M("%[1]s used your access to %[2]s%[3]s on %[4]s%[5]s%[6]s.", "Dr Lewis", "Cynlluniau", in, at, what, from),
		M("%[1]s used your access to %[2]s%[3]s on %[4]s%[5]s%[6]s.", "Dr Lewis", "Cynlluniau", Msg{}, at, Msg{}, Msg{}),
		M("You gave %[1]s this access on %[2]s%[3]s.", "Dr Lewis", at, from),
		M("You revoked it on %[1]s%[2]s.", at, from),
		M("%[1]s declined it on %[2]s%[3]s.", "Dr Lewis", at, Msg{}),
		M("It ended on %s: you no longer held any of its permissions.", at),
		M("It expired on %s.", Moment{At: now.AddDate(-1, 0, 0), Now: now}),
		M("On %[1]s you no longer held the permission to %[2]s: what %[3]s had been issued was withdrawn, and it now covers only the rest.", at, List{"newid"}, "Dr Lewis"),
		M("%[1]s on %[2]s.", "gwahanol", at),
		M("%[1]s used your access to %[2]s, passed on by %[3]s%[4]s on %[5]s%[6]s%[7]s.", "Sam", "Cynlluniau", "Dr Lewis", M(",%s", in), at, what, from),
	} {
		e = append(e, ActivityEntry{Kind: "delegation.used", Text: m})
	}
	return DelegationActivityView{Page: Page{Title: "Activity", SignedInAs: "Aled Jones"}, Heading: M("What %s did with your access to %s", "Dr Lewis", "Cynlluniau"),
		Entries: e, Older: "/older"}
}

func giveView(now time.Time, passOn bool) GiveAccessView {
	v := GiveAccessView{Page: Page{Title: "Give access", SignedInAs: "Aled Jones"}, Audience: "https://c.example", APIName: "Cynlluniau", To: "person",
		Apps: []DelegationOption{{Value: "calendr", Label: "Calendr"}}, Scopes: []DelegationOption{{Value: "darllen", Label: "Darllen", Hint: "darllen"}},
		Durations: []DelegationOption{{Value: "8h0m0s", Text: M("For %s", Span(8*time.Hour))}, {Value: "24h0m0s", Text: M("For %s", Span(24*time.Hour))},
			{Value: "72h0m0s", Text: M("For %s", Span(72*time.Hour))}, {Value: "date", Text: M("Until the date and time below")}},
		MaxText: M("%s", Span(7*24*time.Hour)), OfferPassOn: true,
		Problems: []Msg{M("Choose the app to give access to."), M("Choose until when."), M("Enter the end as a date and a time."),
			M("We couldn't give access to that address. Check it, or ask them to sign in to Gatehouse once first."),
			M("Access can be given for at most %s.", Span(7*24*time.Hour)), M("\"%s\" cannot be delegated.", "darllen")}}
	if passOn {
		v.ParentID, v.ParentFrom = "d1", "Dr Owen"
		v.MaxText = M("%s, and no later than the access you received ends, %s", Span(2*24*time.Hour), Moment{At: now.Add(24 * time.Hour), Now: now})
	}
	return v
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

// TestCatalogueKeyTwiceIsRefused: a catalogue naming a key twice does not
// load (a JSON reader would keep the last translation and drop the other
// without a word, as after two branches added the same key).
func TestCatalogueKeyTwiceIsRefused(t *testing.T) {
	_, err := parseCatalogue([]byte(`{"Save": "Cadw", "Delete": "Dileu", "Save": "Arbed"}`))
	if err == nil || !strings.Contains(err.Error(), `"Save" appears twice`) {
		t.Errorf("parseCatalogue with Save twice: %v, want it refused naming Save", err)
	}
	if _, err := parseCatalogue([]byte(`{"Save": "Cadw", "n %d": {"one": "%d", "other": "%d"}}`)); err != nil {
		t.Errorf("parseCatalogue without repeats: %v", err)
	}
}
