//go:build demo

package main

import (
	"context"
	"html"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"
	"golang.org/x/text/language"

	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/static"
	"github.com/gatehouse/gatehouse/templates"
)

// The demo's own pages (the demo app's and the demo IdPs' pick pages) speak
// the person's language from Gatehouse's catalogues, chosen as Gatehouse's
// pages choose it (web.PageLocale): the language cookie, Accept-Language, then
// the configured default.

// demoContext is r's context in the language of its pages; def is
// GATEHOUSE_DEFAULT_LOCALE.
func demoContext(r *http.Request, def language.Tag) context.Context {
	info := r.WithContext(web.WithInfo(r.Context(), web.RequestInfo{DefaultLocale: def}))
	return templates.WithLocale(r.Context(), web.PageLocale(info), nil)
}

// demoFuncs are the demo app page's functions in ctx's language: t translates
// (templates.T), tc translates a sentence with markup inside (templates.TC)
// made by code, link and timeOf, and msg says a templates.Msg.
func demoFuncs(ctx context.Context) template.FuncMap {
	return template.FuncMap{
		"t":   func(key string, args ...any) string { return templates.T(ctx, key, args...) },
		"msg": func(m templates.Msg) string { return m.In(ctx) },
		"tc": func(key string, parts ...template.HTML) (template.HTML, error) {
			cs := make([]templ.Component, len(parts))
			for i, p := range parts {
				cs[i] = templ.Raw(p)
			}
			var b strings.Builder
			err := templates.TC(key, cs...).Render(ctx, &b)
			return template.HTML(b.String()), err
		},
		"code": func(s string, testID ...string) template.HTML {
			attr := ""
			if len(testID) > 0 {
				attr = ` data-testid="` + html.EscapeString(testID[0]) + `"`
			}
			return template.HTML("<code" + attr + ">" + html.EscapeString(s) + "</code>")
		},
		"link": func(href, text string) template.HTML {
			return template.HTML(`<a href="` + html.EscapeString(href) + `">` + html.EscapeString(text) + "</a>")
		},
		// A time as a person reads it, and for machines in datetime (HTML
		// §4.5.14; RFC 3339).
		"timeOf": func(t time.Time) template.HTML {
			return template.HTML(`<time datetime="` + t.UTC().Format(time.RFC3339) + `">` + html.EscapeString(templates.DateTime(ctx, t)) + "</time>")
		},
		"lang":  func() string { return templates.Lang(ctx) },
		"style": func() string { return static.URL("style.css") },
	}
}

// demoPickPage is the demo IdPs' pick page in the person's language. The OIDC
// IdP's labels are the demo's own words (translated); the SAML IdP's are
// names and addresses, shown as they are.
func demoPickPage(def language.Tag, translateLabels bool) providertest.PickPage {
	return func(w http.ResponseWriter, r *http.Request, english providertest.PickText) {
		writeDemoPickPage(demoContext(r, def), w, english, translateLabels)
	}
}

func writeDemoPickPage(ctx context.Context, w http.ResponseWriter, english providertest.PickText, translateLabels bool) {
	t := english
	t.Lang = templates.Lang(ctx)
	t.Title = templates.T(ctx, english.Title)
	t.PageTitle = templates.T(ctx, "Sign in · %s", t.Title)
	t.Heading, t.Intro, t.Footer = templates.T(ctx, english.Heading), templates.T(ctx, english.Intro), templates.T(ctx, english.Footer)
	t.People = append([]providertest.PickPerson(nil), english.People...)
	for i := range t.People {
		if translateLabels {
			t.People[i].Label = templates.T(ctx, t.People[i].Label)
		}
	}
	providertest.WritePickPage(w, t)
}
