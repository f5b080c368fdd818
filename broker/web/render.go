package web

import (
	"bytes"
	"context"
	"net/http"
	"unicode/utf8"

	"github.com/a-h/templ"

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
// configured brand, when there is one.
func pageContext(r *http.Request) context.Context {
	ctx := r.Context()
	if b := InfoFrom(ctx).Brand; b != nil {
		ctx = templates.WithBrand(ctx, b)
	}
	return ctx
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
