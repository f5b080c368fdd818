package templates

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// The message catalogues are data files translators edit: locales/<tag>.json,
// one object from message key to translation. A translation is a string, or,
// for a message that counts something, an object of CLDR plural categories
// ("zero", "one", "two", "few", "many", "other"; Welsh uses all six) selecting
// on the first argument (golang.org/x/text/feature/plural). Keys starting with
// "//" are notes for translators and are not messages.
//
// The key is the English text itself, as in gettext, not an ID: a page's source
// reads as the page does, and the titles and messages the broker's handlers set
// in Go (web.UserError, Page.Title) are translated where they are rendered
// without every handler knowing about languages. Changing the English changes
// the key; TestCatalogues then names every translation that must follow.
//
//go:embed locales/*.json
var localeFiles embed.FS

// DefaultLocale is the locale pages use when nothing else decides.
var DefaultLocale = language.English

// The languages come from the catalogues' file names and the catalogues are
// compiled only when a page first needs a message: validating
// GATEHOUSE_DEFAULT_LOCALE, discovery and language negotiation need only the
// languages, and compiling both catalogues cost a server that renders no page
// (an API-only deployment) 1.4 MB of heap.
var (
	tagsOnce  sync.Once
	supported []language.Tag
	matcher   language.Matcher

	loadOnce sync.Once
	cat      *catalog.Builder
	known    map[language.Tag]map[string]bool
)

// catalogueFiles lists locales/*.json.
func catalogueFiles() []fs.DirEntry {
	entries, err := localeFiles.ReadDir("locales")
	if err != nil {
		panic(err)
	}
	return entries
}

func loadTags() {
	for _, e := range catalogueFiles() {
		supported = append(supported, language.MustParse(strings.TrimSuffix(e.Name(), ".json")))
	}
	// English first: the matcher's first tag is its answer when nothing matches.
	sort.Slice(supported, func(i, j int) bool {
		return supported[i] == language.English || supported[j] != language.English && supported[i].String() < supported[j].String()
	})
	matcher = language.NewMatcher(supported)
}

func load() {
	cat = catalog.NewBuilder(catalog.Fallback(language.English))
	known = map[language.Tag]map[string]bool{}
	for _, e := range catalogueFiles() {
		tag := language.MustParse(strings.TrimSuffix(e.Name(), ".json"))
		b, err := localeFiles.ReadFile(path.Join("locales", e.Name()))
		if err != nil {
			panic(err)
		}
		msgs, err := parseCatalogue(b)
		if err != nil {
			panic(fmt.Sprintf("templates/locales/%s: %v", e.Name(), err))
		}
		known[tag] = map[string]bool{}
		for key, m := range msgs {
			if err := cat.Set(tag, key, m); err != nil {
				panic(fmt.Sprintf("templates/locales/%s: %q: %v", e.Name(), key, err))
			}
			known[tag][key] = true
		}
	}
}

// pluralCategories are CLDR's plural categories in the order plural.Selectf
// tries them.
var pluralCategories = []string{"zero", "one", "two", "few", "many", "other"}

// parseCatalogue reads one locales/*.json file.
func parseCatalogue(b []byte) (map[string]catalog.Message, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	if k, err := repeatedKey(b); err != nil || k != "" {
		return nil, cmp.Or(err, fmt.Errorf("%q appears twice", k))
	}
	msgs := map[string]catalog.Message{}
	for key, v := range raw {
		if strings.HasPrefix(key, "//") {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			msgs[key] = catalog.String(s)
			continue
		}
		var forms map[string]string
		if err := json.Unmarshal(v, &forms); err != nil {
			return nil, fmt.Errorf("%q: a translation is a string or an object of plural forms", key)
		}
		var cases []any
		for _, c := range pluralCategories {
			if f, ok := forms[c]; ok {
				cases = append(cases, c, f)
				delete(forms, c)
			}
		}
		if len(forms) > 0 || len(cases) == 0 || cases[len(cases)-2] != "other" {
			return nil, fmt.Errorf("%q: plural forms are zero, one, two, few, many and other, and other is required", key)
		}
		msgs[key] = plural.Selectf(1, "%d", cases...)
	}
	return msgs, nil
}

// repeatedKey is a key that b's object names twice, or "". JSON readers keep
// the last silently, and two sets of pages adding the same key in parallel
// (merged without a conflict) would lose one translation without a word.
func repeatedKey(b []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // the object's {
		return "", err
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", err
		}
		k, _ := t.(string)
		if seen[k] {
			return k, nil
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", err
		}
	}
	return "", nil
}

// Locales are the languages Gatehouse's pages are written in, English first
// (OpenID Connect Discovery §3 ui_locales_supported).
func Locales() []language.Tag {
	tagsOnce.Do(loadTags)
	return append([]language.Tag(nil), supported...)
}

// MessageKeys returns every message key of the catalogue of tag.
func MessageKeys(tag language.Tag) []string {
	loadOnce.Do(load)
	var keys []string
	for k := range known[tag] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Negotiate picks the page language. Each argument is a list of preferences,
// tried in order; the first that names a supported language decides:
// the person's own choice (the language cookie), the application's ui_locales
// (OIDC Core §3.1.2.1, space-separated BCP 47 tags), the browser's
// Accept-Language (RFC 9110 §12.5.4), and last the configured default.
// "cy-GB" and "cy" both choose Welsh (language.Matcher, BCP 47 matching).
func Negotiate(def language.Tag, prefs ...string) language.Tag {
	tagsOnce.Do(loadTags)
	for _, p := range prefs {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		// ui_locales separates with spaces, Accept-Language with commas.
		tags, _, err := language.ParseAcceptLanguage(strings.Join(strings.Fields(p), ","))
		if err != nil || len(tags) == 0 {
			continue
		}
		if _, i, conf := matcher.Match(tags...); conf != language.No {
			return supported[i]
		}
	}
	if _, i, conf := matcher.Match(def); conf != language.No {
		return supported[i]
	}
	return language.English
}

// Supported reports whether tag is one of Locales, for validating the setting.
func Supported(tag language.Tag) bool {
	tagsOnce.Do(loadTags)
	for _, t := range supported {
		if t == tag {
			return true
		}
	}
	return false
}

// Missing collects the messages a render looked up that its locale's catalogue
// lacks. web.Render logs them; the catalogue tests fail on them.
type Missing struct {
	mu   sync.Mutex
	keys map[string]bool
}

// Keys returns the missing keys, sorted.
func (m *Missing) Keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ks []string
	for k := range m.keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (m *Missing) add(k string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[string]bool{}
	}
	m.keys[k] = true
}

type localeKey struct{}

type locale struct {
	tag     language.Tag
	printer *message.Printer
	missing *Missing
}

// WithLocale returns ctx rendering pages in tag; misses, when not nil,
// collects the messages the catalogue lacks.
func WithLocale(ctx context.Context, tag language.Tag, misses *Missing) context.Context {
	loadOnce.Do(load)
	return context.WithValue(ctx, localeKey{}, &locale{tag: tag, printer: message.NewPrinter(tag, message.Catalog(cat)), missing: misses})
}

func localeFrom(ctx context.Context) *locale {
	if l, ok := ctx.Value(localeKey{}).(*locale); ok {
		return l
	}
	loadOnce.Do(load)
	return &locale{tag: language.English, printer: message.NewPrinter(language.English, message.Catalog(cat))}
}

// Lang is the BCP 47 tag of ctx's page language, for <html lang>.
func Lang(ctx context.Context) string { return localeFrom(ctx).tag.String() }

// T translates key into ctx's page language and formats args into it as
// fmt.Sprintf would, with numbers in the locale's digits and grouping. A key
// the catalogue lacks is recorded as missing and shown in English.
func T(ctx context.Context, key string, args ...any) string {
	l := localeFrom(ctx)
	if key == "" {
		return ""
	}
	if !known[l.tag][key] && l.missing != nil {
		l.missing.add(key)
	}
	return l.printer.Sprintf(key, args...)
}

// TC is T for a sentence with markup inside it: each argument is a component
// (a link, a <strong> name) placed where the translation puts its %s, so a
// translator can reorder the sentence around them. The text between is escaped.
func TC(key string, parts ...templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		marks := make([]any, len(parts))
		for i := range parts {
			marks[i] = fmt.Sprintf("\x00%d\x00", i)
		}
		s := T(ctx, key, marks...)
		for {
			start := strings.IndexByte(s, 0)
			if start < 0 {
				break
			}
			end := strings.IndexByte(s[start+1:], 0)
			if end < 0 {
				break
			}
			if _, err := io.WriteString(w, templ.EscapeString(s[:start])); err != nil {
				return err
			}
			var i int
			fmt.Sscanf(s[start+1:start+1+end], "%d", &i)
			if i >= 0 && i < len(parts) {
				if err := parts[i].Render(ctx, w); err != nil {
					return err
				}
			}
			s = s[start+1+end+1:]
		}
		_, err := io.WriteString(w, templ.EscapeString(s))
		return err
	})
}

// text is a plain-text component, escaped, for TC's arguments.
func text(s string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, templ.EscapeString(s))
		return err
	})
}

var monthNames = [...]string{"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December"}

// Date is t's day in ctx's language ("7 December 2026", "7 Rhagfyr 2026"):
// x/text formats numbers but not dates, so the month names and the order are
// catalogue entries.
func Date(ctx context.Context, t time.Time) string {
	t = t.UTC()
	// Strings, not numbers: the printer would group a year's digits ("2,026").
	return T(ctx, "%[1]s %[2]s %[3]s", strconv.Itoa(t.Day()), T(ctx, monthNames[t.Month()-1]), strconv.Itoa(t.Year()))
}

// DateTime is t to the minute in ctx's language, in UTC; the zero time is a dash.
func DateTime(ctx context.Context, t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return T(ctx, "%[1]s, %[2]s UTC", Date(ctx, t), t.UTC().Format("15:04"))
}

// Data shows text that comes from configuration rather than from Gatehouse
// (an API's scope descriptions, a provider's name): translated when the
// catalogue happens to have it, as the built-in scopes' descriptions, and
// otherwise as written, without counting as missing.
func Data(ctx context.Context, s string) string {
	l := localeFrom(ctx)
	if !known[l.tag][s] {
		return s
	}
	return l.printer.Sprintf(s)
}

// endonyms are the languages' names in themselves, for the language switcher
// (a new catalogue adds its language's name here).
var endonyms = map[string]string{"en": "English", "cy": "Cymraeg"}

type switchKey struct{}

// WithLanguageSwitch returns ctx whose pages link to the other languages, each
// link keeping the choice (LanguagePath) and coming back to returnTo.
func WithLanguageSwitch(ctx context.Context, returnTo string) context.Context {
	return context.WithValue(ctx, switchKey{}, returnTo)
}

// LanguagePath is where a language link goes: it keeps the choice in a cookie.
const LanguagePath = "/language"

// languageLink is one other language's link on a page: its URL, its tag and its
// own name.
type languageLink struct{ URL, Tag, Name string }

func languageLinks(ctx context.Context) []languageLink {
	returnTo, ok := ctx.Value(switchKey{}).(string)
	if !ok {
		return nil
	}
	cur := localeFrom(ctx).tag
	var out []languageLink
	for _, t := range Locales() {
		if t != cur {
			out = append(out, languageLink{URL: LanguagePath + "?" + url.Values{"lang": {t.String()}, "return_to": {returnTo}}.Encode(),
				Tag: t.String(), Name: endonyms[t.String()]})
		}
	}
	return out
}
