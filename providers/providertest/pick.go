package providertest

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
)

// pickPage is the demo IdPs' "pick who you are" page: links that repeat the
// sign-in request with user=N added.
var pickPage = template.Must(template.New("pick").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">
<h1>{{.Title}}</h1>
<p>This is a demo identity provider. Pick who you are:</p>
<ul>{{range .Users}}<li style="margin:.5rem 0"><a data-testid="pick-{{.N}}" href="{{.Href}}">{{.Label}}</a></li>{{end}}</ul>
</body></html>`))

type pickUser struct {
	N     int
	Label string
	Href  string
}

func writePickPage(w http.ResponseWriter, r *http.Request, title string, labels []string) {
	var users []pickUser
	for n, l := range labels {
		u := *r.URL
		q := u.Query()
		q.Set("user", strconv.Itoa(n))
		u.RawQuery = q.Encode()
		users = append(users, pickUser{N: n, Label: l, Href: (&url.URL{Path: u.Path, RawQuery: u.RawQuery}).String()})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = pickPage.Execute(w, struct {
		Title string
		Users []pickUser
	}{title, users})
}

func (i *OIDCIssuer) pickUser(w http.ResponseWriter, r *http.Request) {
	var labels []string
	for _, u := range i.opts.Users {
		labels = append(labels, u.Label)
	}
	writePickPage(w, r, "Demo OIDC provider", labels)
}
