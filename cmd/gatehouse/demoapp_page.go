//go:build demo

package main

import (
	"encoding/json"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/static"
)

// The demo app's page: its view, its messages in words, and its template.

// demoStatic serves Gatehouse's stylesheet to the demo app's page.
var demoStatic = static.Handler(http.NotFoundHandler())

// demoProblem is an error page's message: sentences, never an error chain.
// Code is the OAuth error code Gatehouse sent, if any, for the curious.
type demoProblem struct {
	Title, Message, Next, Code string
}

// demoIntrospection is Gatehouse's answer about the access token (RFC 7662 §2.2).
type demoIntrospection struct {
	Active bool
	Claims []demoClaim
}

// demoClaim is one claim of a token or answer, shown as a person reads it: a
// time claim as a date, anything else as compact JSON.
type demoClaim struct {
	Name, Value string
	Time        time.Time // set for the time claims
}

// timeClaims are the claims that are seconds since 1970 (RFC 7519 §4.1.4–6,
// OpenID Connect Core §2 auth_time and §5.1 updated_at).
var timeClaims = map[string]bool{"exp": true, "iat": true, "nbf": true, "auth_time": true, "updated_at": true}

// claimsOf lists m's claims by name, times as dates.
func claimsOf(m map[string]any) []demoClaim {
	out := make([]demoClaim, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		c := demoClaim{Name: k}
		if n, ok := m[k].(float64); ok && timeClaims[k] {
			c.Time = time.Unix(int64(n), 0).UTC()
		}
		b, _ := json.Marshal(m[k])
		c.Value = string(b)
		out = append(out, c)
	}
	return out
}

func (a *demoApp) handleHome(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, demoView{})
}

// render writes the demo app's page for v.
func (a *demoApp) render(w http.ResponseWriter, status int, v demoView) {
	v.Issuer = a.issuer
	switch {
	case v.Problem != nil:
		v.Title = v.Problem.Title
	case v.ID != nil:
		v.Title = "Signed in"
	default:
		v.Title = "Sign in"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	demoPage.Execute(w, v)
}

// fail shows a problem on the demo app's page.
func (a *demoApp) fail(w http.ResponseWriter, status int, p demoProblem) {
	a.render(w, status, demoView{Problem: &p})
}

// unreachable is the problem when Gatehouse does not answer.
func (a *demoApp) unreachable() demoProblem {
	return demoProblem{Title: "Gatehouse is not answering",
		Message: "The demo app could not reach Gatehouse at " + a.issuer + ".",
		Next:    "Check that the demo is still running (the terminal where you started it), then try again."}
}

// authorizeProblem says in words what an error response from the
// authorization endpoint (RFC 6749 §4.1.2.1) means for the person.
func authorizeProblem(code, description string) demoProblem {
	p := demoProblem{Title: "Not signed in", Code: code,
		Message: "Gatehouse did not sign you in to the demo app.",
		Next:    "Try again, or sign in as someone else."}
	switch code {
	case "access_denied":
		p.Message = "You did not allow the demo app to use your account, so it has no tokens."
		p.Next = "Sign in again and approve, or sign in as someone else."
	case "login_required", "consent_required", "interaction_required", "account_selection_required":
		p.Message = "Gatehouse needs you to sign in and approve before the demo app can use your account."
	case "invalid_scope":
		p.Message = "Gatehouse would not give the demo app the access it asked for."
	case "server_error", "temporarily_unavailable":
		p.Message = "Gatehouse could not finish the sign-in just now."
		p.Next = "Wait a moment and try again."
	}
	if description != "" {
		p.Message += " Gatehouse said: \u201c" + description + "\u201d"
	}
	return p
}

// refreshRefusal says in words why Gatehouse refused a refresh (RFC 6749 §5.2),
// keeping the code for the curious.
func refreshRefusal(code string) string {
	switch code {
	case "invalid_grant":
		return "Gatehouse refused: this access has ended (it was revoked, the person signed out, or it expired). Sign in again for new tokens. (invalid_grant)"
	case "invalid_client":
		return "Gatehouse did not recognise the demo app (its secret changes at every start of the demo). Sign in again. (invalid_client)"
	case "":
		return "Gatehouse refused, without saying why."
	}
	return "Gatehouse refused. (" + code + ")"
}

// demoFuncs format the page's times: as a person reads a date, and for
// <time datetime> (HTML §4.5.14; machine-readable, RFC 3339).
var demoFuncs = template.FuncMap{
	"date":     func(t time.Time) string { return t.Format("Mon 2 Jan 2006, 15:04:05 UTC") },
	"datetime": func(t time.Time) string { return t.Format(time.RFC3339) },
	"style":    func() string { return static.URL("style.css") },
}

// demoPage is the demo app's one page, on Gatehouse's own stylesheet (served
// by the app at the same hashed URL) so it looks and reads like Gatehouse:
// landmarks, a skip link, headings in order, dark mode.
var demoPage = template.Must(template.New("demo").Funcs(demoFuncs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{{.Title}} · Gatehouse demo app</title>
<link rel="stylesheet" href="{{style}}">
<style>
main { max-width: 56rem; }
pre { background: var(--wash); border: 1px solid var(--line); border-radius: var(--radius); padding: .75rem; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
dl.claims { grid-template-columns: minmax(6rem, max-content) 1fr; }
dl.claims dd { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
dl.claims dd time { font-family: system-ui, sans-serif; font-size: 1rem; }
.acting { border-left: 4px solid var(--brand); padding-left: .75rem; }
details { margin-top: .5rem; }
summary { cursor: pointer; }
form.inline { display: inline; }
</style>
</head><body>
<a class="skip" href="#main">Skip to content</a>
<header class="site">
<a class="brand" href="/">Gatehouse demo app</a>
<nav aria-label="Demo app">{{if .ID}}<a href="{{.Logout}}">Sign out</a>{{else}}<a href="/login">Sign in</a>{{end}}<a href="{{.Issuer}}/">Gatehouse</a></nav>
</header>
<main id="main">
<section class="card">
<h1>{{if .Problem}}{{.Problem.Title}}{{else}}Gatehouse demo app{{end}}</h1>
{{with .Problem}}<div class="problems" data-testid="demo-error">
<p data-testid="demo-error-message">{{.Message}}</p>
<p>{{.Next}}</p>
{{if .Code}}<p class="muted">Error code from Gatehouse: <code>{{.Code}}</code></p>{{end}}
</div>
<div class="actions"><a class="button" href="/login" data-testid="demo-signin">Sign in with Gatehouse</a><a class="button secondary" href="/login?switch=1">Sign in as someone else</a></div>
{{else}}
<p class="lead">An app on its own port that signs in through <a href="{{.Issuer}}/">Gatehouse</a> (authorization code with PKCE)
and asks for every scope of the Demo Notes API. Gatehouse grants only those the person's roles entitle them to.</p>
{{if .ID}}
{{if .Acting}}<div class="acting" data-testid="demo-acting-box">
<p><strong data-testid="demo-acting">{{.Acting}}</strong></p>
<p>Under delegation <code data-testid="demo-delegation-id">{{.DelegationID}}</code>: the access token's <code>sub</code> is whose access it is
and <code>act.sub</code> who uses it (RFC 8693 §4.1); the ID token is about the person who signed in.</p>
</div>{{end}}
<h2>How you signed in</h2><p data-testid="demo-authn">acr <code data-testid="demo-acr">{{or .ACR "(none)"}}</code>,
amr <code data-testid="demo-amr">{{or .AMR "(none)"}}</code>. After a step-up with a security key: acr
<code>urn:gatehouse:acr:security-key</code>, amr with <code>hwk</code> (a security key) or <code>swk</code> (a passkey) and <code>mfa</code>.</p>
<h2>Granted scope</h2><p data-testid="demo-scope"><code>{{.Scope}}</code></p>
<div class="actions">
<form class="inline" method="post" action="/introspect"><button type="submit" data-testid="demo-introspect">Introspect the access token</button></form>
<form class="inline" method="post" action="/refresh"><button type="submit" class="secondary" data-testid="demo-refresh">Refresh the tokens</button></form>
<form class="inline" method="post" action="/call-api"><button type="submit" class="secondary" data-testid="demo-call-api">Call the Demo Notes API</button></form>
</div>
{{with .APICalls}}<section aria-labelledby="api-title" data-testid="demo-api-calls">
<h2 id="api-title">The Demo Notes API</h2>
<p>The app's own API (<code>GET /api/notes</code>, audience <code>https://api.demo.example</code>) checks the access token with
Gatehouse's verifier library, <code>broker/rs</code>. The token is bound to the app's key (<code>cnf.jkt</code>, RFC 9449 DPoP):
whoever copies it cannot use it without the key.</p>
{{range .}}<div data-testid="demo-api-call">
<h3>{{.Title}}</h3>
<p>{{.Authorization}}: <strong data-testid="demo-api-status">HTTP {{.Status}}</strong></p>
{{range .WWWAuthenticate}}<pre data-testid="demo-api-challenge">WWW-Authenticate: {{.}}</pre>{{end}}
{{if .Body}}<pre data-testid="demo-api-body">{{.Body}}</pre>{{end}}
</div>{{end}}
</section>{{end}}
{{with .Introspection}}<section aria-labelledby="introspection-title" data-testid="demo-introspection">
<h2 id="introspection-title">Introspection</h2>
{{if .Active}}<p class="notice" data-testid="demo-introspection-summary">Active: Gatehouse accepts this access token.</p>
{{else}}<p class="problems" data-testid="demo-introspection-summary">Not active: Gatehouse no longer accepts this access token (revoked, expired, or its access has ended).</p>{{end}}
{{template "claims" .Claims}}
</section>{{end}}
{{if .Refused}}<p class="problems" data-testid="demo-refresh-refused"><strong>Refresh refused.</strong> {{.Refused}}</p>{{end}}
{{with .Refreshed}}<p class="notice" data-testid="demo-refreshed">New tokens at <time datetime="{{datetime .}}">{{date .}}</time>.</p>{{end}}
</section>
<section class="card" aria-labelledby="access-title">
<h2 id="access-title">Access token claims</h2>
<div data-testid="demo-access">{{template "claims" .Access}}</div>
<details><summary>As JSON</summary><pre>{{.AccessJSON}}</pre></details>
<details><summary>The access token itself (for curl)</summary><pre data-testid="demo-access-token">{{.AccessToken}}</pre></details>
</section>
<section class="card" aria-labelledby="id-title">
<h2 id="id-title">ID token claims</h2>
<div data-testid="demo-id">{{template "claims" .ID}}</div>
<details><summary>As JSON</summary><pre>{{.IDJSON}}</pre></details>
</section>
<section class="card" aria-labelledby="userinfo-title">
<h2 id="userinfo-title">UserInfo</h2>
<div data-testid="demo-userinfo">{{template "claims" .UserInfo}}</div>
<details><summary>As JSON</summary><pre>{{.UserInfoJSON}}</pre></details>
<div class="actions"><a class="button" href="/login" data-testid="demo-signin-again">Sign in again</a><a class="button secondary" href="/login?security_key=1" data-testid="demo-signin-key">Sign in with a security key (step-up)</a><a class="button secondary" href="/login?switch=1">Sign in as someone else</a><a class="button secondary" href="{{.Logout}}" data-testid="demo-signout">Sign out</a></div>
{{else}}
<div class="actions"><a class="button" href="/login" data-testid="demo-signin">Sign in with Gatehouse</a><a class="button secondary" href="/login?security_key=1" data-testid="demo-signin-key">Sign in with a security key (step-up)</a></div>
<p>Sign in as <code>alice@oidc.example</code> or <code>bob@oidc.example</code> (OIDC), <code>carol@saml.example</code> or
<code>dave@saml.example</code> (SAML); <a href="{{.Issuer}}/">Gatehouse's start page</a> says what each can show.</p>
{{end}}
{{end}}
</section>
</main>
<footer class="site">Gatehouse demo app: runs on this computer only</footer>
</body></html>
{{define "claims"}}<dl class="facts claims">{{range .}}<dt><code>{{.Name}}</code></dt><dd>{{if .Time.IsZero}}{{.Value}}{{else}}<time datetime="{{datetime .Time}}">{{date .Time}}</time> <span class="muted">({{.Value}})</span>{{end}}</dd>{{end}}</dl>{{end}}`))
