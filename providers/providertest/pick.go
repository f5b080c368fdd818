package providertest

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
)

// pickPage is the demo IdPs' "pick who you are" page: links that repeat the
// sign-in request with user=N added. It is the first page of another site a
// newcomer to the demo sees, so it is as plain and accessible as Gatehouse's
// (landmarks, headings, contrast in light and dark mode, 320 px wide) but
// looks different on purpose: it stands in for an organisation's sign-in page.
var pickPage = template.Must(template.New("pick").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.PageTitle}}</title>
<style>
:root { --ink: #1b2430; --muted: #525e6c; --paper: #ffffff; --wash: #eef1f4; --line: #c9d0d8; --accent: #5b2a86; --accent-ink: #ffffff;
  color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --ink: #e6e9ee; --muted: #a9b2be; --paper: #1d1a22; --wash: #121016; --line: #3d3846; --accent: #c9a6ee; --accent-ink: #121016; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--wash); }
header { background: var(--accent); color: var(--accent-ink); padding: .75rem 1.25rem; font-weight: 600; }
main { max-width: 32rem; margin: 2rem auto; padding: 1.5rem; background: var(--paper); border: 1px solid var(--line); border-radius: 6px; }
@media (max-width: 34rem) { main { margin: 1rem .5rem; padding: 1rem; } }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
ul { list-style: none; padding: 0; margin: 1rem 0 0; }
li { margin: .5rem 0; }
a.person { display: block; padding: .75rem 1rem; border: 1px solid var(--line); border-radius: 6px; color: var(--accent);
  font-weight: 600; text-decoration: none; overflow-wrap: anywhere; }
a.person:hover { background: var(--wash); }
a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.muted { color: var(--muted); }
footer { text-align: center; color: var(--muted); font-size: .85rem; padding: 0 1rem 1rem; }
</style></head>
<body>
<header>{{.Title}}</header>
<main>
<h1>{{.Heading}}</h1>
<p>{{.Intro}}</p>
<ul>{{range .People}}<li><a class="person" data-testid="pick-{{.N}}" href="{{.Href}}">{{.Label}}</a></li>{{end}}</ul>
</main>
<footer>{{.Footer}}</footer>
</body></html>`))

// PickText is what a pick page says.
type PickText struct {
	Lang, PageTitle, Title, Heading, Intro, Footer string
	People                                         []PickPerson
}

// PickPerson is one person a pick page offers: N is their index, Href the
// sign-in request again with user=N.
type PickPerson struct {
	N           int
	Label, Href string
}

// PickPage writes a demo IdP's pick page from its English words: the demo's
// says them in the person's language (WritePickPage with the translation).
type PickPage func(w http.ResponseWriter, r *http.Request, english PickText)

// WritePickPage writes the pick page saying t.
func WritePickPage(w http.ResponseWriter, t PickText) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = pickPage.Execute(w, t)
}

// writePickPage offers labels at the IdP idp, each linking to r again with
// user=N, on page, or in English when page is nil.
func writePickPage(w http.ResponseWriter, r *http.Request, page PickPage, idp string, labels []string) {
	t := PickText{Lang: "en", PageTitle: "Sign in · " + idp, Title: idp, Heading: "Who are you?",
		Intro:  "This demo identity provider stands in for your organisation's sign-in page. It asks for no password: pick the person to sign in as.",
		Footer: "A demo identity provider: it runs on this computer only."}
	for n, l := range labels {
		u := *r.URL
		q := u.Query()
		q.Set("user", strconv.Itoa(n))
		u.RawQuery = q.Encode()
		t.People = append(t.People, PickPerson{N: n, Label: l, Href: (&url.URL{Path: u.Path, RawQuery: u.RawQuery}).String()})
	}
	if page == nil {
		WritePickPage(w, t)
		return
	}
	page(w, r, t)
}

func (i *OIDCIssuer) pickUser(w http.ResponseWriter, r *http.Request) {
	var labels []string
	for _, u := range i.opts.Users {
		labels = append(labels, u.Label)
	}
	writePickPage(w, r, i.opts.PickPage, "Demo OIDC provider", labels)
}
