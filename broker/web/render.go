package web

import (
	"bytes"
	"context"
	"net/http"
	"unicode/utf8"

	"github.com/a-h/templ"
	"golang.org/x/text/language"

	"github.com/gatehouse/gatehouse/templates"
)

// Render writes a page. It renders into a buffer first, so a failing component
// becomes a clean error page instead of half a page.
func Render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) error {
	var buf bytes.Buffer
	if err := c.Render(pageContext(r), &buf); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

// pageContext is the request's context with what the page frame shows: the
// configured brand, when there is one, and the page language (PageLocale).
func pageContext(r *http.Request) context.Context {
	ctx := r.Context()
	if b := InfoFrom(ctx).Brand; b != nil {
		ctx = templates.WithBrand(ctx, b)
	}
	// The language links come back to this page: a GET is asked again, an
	// answer to a form goes to its address.
	back := r.URL.Path
	if r.Method == http.MethodGet {
		back = r.URL.RequestURI()
	}
	ctx = templates.WithLanguageSwitch(ctx, back)
	return templates.WithLocale(ctx, PageLocale(r), nil)
}

// LocaleCookie keeps the language a person chose with a page's language
// switcher, on this browser only.
const LocaleCookie = "gatehouse-lang"

// PageLocale is the language of the pages answering r: the person's own choice
// (LocaleCookie) first, as it is the most deliberate; then the application's
// ui_locales for this sign-in (OIDC Core §3.1.2.1); then the browser's
// Accept-Language (RFC 9110 §12.5.4); then GATEHOUSE_DEFAULT_LOCALE.
func PageLocale(r *http.Request) language.Tag {
	var chosen string
	if c, err := r.Cookie(LocaleCookie); err == nil {
		chosen = c.Value
	}
	ui, _ := r.Context().Value(uiLocalesKey{}).(string)
	return templates.Negotiate(InfoFrom(r.Context()).DefaultLocale, Truncate(chosen, 64), Truncate(ui, 256), Truncate(r.Header.Get("Accept-Language"), 512))
}

type uiLocalesKey struct{}

// WithUILocales returns ctx carrying an authorization request's ui_locales, for
// the pages of its sign-in and consent.
func WithUILocales(ctx context.Context, uiLocales string) context.Context {
	if uiLocales == "" {
		return ctx
	}
	return context.WithValue(ctx, uiLocalesKey{}, uiLocales)
}

// Truncate shortens untrusted text (from clients, upstream IdPs, browsers) to at
// most n bytes before it is stored, logged or audited, without splitting a
// UTF-8 character.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
