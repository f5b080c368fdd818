//go:build demo

package main

import (
	"context"
	"encoding/json"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/static"
	"github.com/gatehouse/gatehouse/templates"
)

// The demo app's page: its view, its messages in words, and its template.

// demoStatic serves Gatehouse's stylesheet to the demo app's page.
var demoStatic = static.Handler(http.NotFoundHandler())

// demoProblem is an error page's message: sentences from the catalogues, never
// an error chain. Code is the OAuth error code Gatehouse sent, if any, for
// the curious.
type demoProblem struct {
	Title, Message, Next templates.Msg
	Code                 string
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
	a.render(w, r, http.StatusOK, demoView{})
}

// render writes the demo app's page for v in the person's language.
func (a *demoApp) render(w http.ResponseWriter, r *http.Request, status int, v demoView) {
	writeDemoPage(demoContext(r, a.locale), w, status, a.issuer, v)
}

// writeDemoPage writes the demo app's page for v in ctx's language.
func writeDemoPage(ctx context.Context, w http.ResponseWriter, status int, issuer string, v demoView) {
	v.Issuer = issuer
	switch {
	case v.Problem != nil:
		v.Title = v.Problem.Title
	case v.ID != nil:
		v.Title = templates.M("Signed in")
	default:
		v.Title = templates.M("Sign in")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// A copy of the page with the functions of this request's language.
	template.Must(demoPage.Clone()).Funcs(demoFuncs(ctx)).Execute(w, v)
}

// fail shows a problem on the demo app's page.
func (a *demoApp) fail(w http.ResponseWriter, r *http.Request, status int, p demoProblem) {
	a.render(w, r, status, demoView{Problem: &p})
}

// startAgain is what to do after a sign-in that went wrong.
var startAgain = templates.M("Start again with “Sign in with Gatehouse”.")

// The problems of a sign-in's answer and of the page's buttons.
var (
	problemNotRecognised = demoProblem{Title: templates.M("Sign-in not recognised"),
		Message: templates.M("This sign-in was not started in this browser, or it took longer than ten minutes."), Next: startAgain}
	problemWrongServer = demoProblem{Title: templates.M("Answer from the wrong server"),
		Message: templates.M("The sign-in answer came from another server than Gatehouse, so the demo app ignored it."), Next: startAgain}
	problemNoExchange = demoProblem{Title: templates.M("Not signed in"),
		Message: templates.M("Gatehouse would not exchange the sign-in code for tokens."), Next: startAgain}
	problemNotVerified = demoProblem{Title: templates.M("Not signed in"),
		Message: templates.M("The ID token Gatehouse sent did not verify, so the demo app did not trust it."), Next: startAgain}
	problemCrossSite = demoProblem{Title: templates.M("Refused"),
		Message: templates.M("The demo app takes this only from its own page, and this came from another site."),
		Next:    templates.M("Use the buttons on the demo app's page.")}
)

// introspectionUnanswered is the problem when introspection failed with status.
func introspectionUnanswered(status string) demoProblem {
	return demoProblem{Title: templates.M("No answer about the token"),
		Message: templates.M("Gatehouse did not answer the question whether the access token is active (HTTP %s).", status),
		Next:    templates.M("Try again, or sign in again.")}
}

// apiUnanswered is the problem when the Demo Notes API at target did not answer.
func apiUnanswered(target string) demoProblem {
	return demoProblem{Title: templates.M("The Demo Notes API did not answer"),
		Message: templates.M("The demo app could not call its API at %s.", target), Next: templates.M("Try again.")}
}

// unreachable is the problem when Gatehouse does not answer.
func (a *demoApp) unreachable() demoProblem {
	return demoProblem{Title: templates.M("Gatehouse is not answering"),
		Message: templates.M("The demo app could not reach Gatehouse at %s.", a.issuer),
		Next:    templates.M("Check that the demo is still running (the terminal where you started it), then try again.")}
}

// authorizeProblem says in words what an error response from the
// authorization endpoint (RFC 6749 §4.1.2.1) means for the person.
func authorizeProblem(code, description string) demoProblem {
	p := demoProblem{Title: templates.M("Not signed in"), Code: code,
		Message: templates.M("Gatehouse did not sign you in to the demo app."),
		Next:    templates.M("Try again, or sign in as someone else.")}
	switch code {
	case "access_denied":
		p.Message = templates.M("You did not allow the demo app to use your account, so it has no tokens.")
		p.Next = templates.M("Sign in again and approve, or sign in as someone else.")
	case "login_required", "consent_required", "interaction_required", "account_selection_required":
		p.Message = templates.M("Gatehouse needs you to sign in and approve before the demo app can use your account.")
	case "invalid_scope":
		p.Message = templates.M("Gatehouse would not give the demo app the access it asked for.")
	case "server_error", "temporarily_unavailable":
		p.Message = templates.M("Gatehouse could not finish the sign-in just now.")
		p.Next = templates.M("Wait a moment and try again.")
	}
	if description != "" {
		// Gatehouse's error_description is for developers, in English.
		p.Message = templates.M("%s Gatehouse said: “%s”", p.Message, description)
	}
	return p
}

// refreshRefusal says in words why Gatehouse refused a refresh (RFC 6749 §5.2),
// keeping the code for the curious.
func refreshRefusal(code string) templates.Msg {
	switch code {
	case "invalid_grant":
		return templates.M("Gatehouse refused: this access has ended (it was revoked, the person signed out, or it expired). Sign in again for new tokens. (%s)", code)
	case "invalid_client":
		return templates.M("Gatehouse did not recognise the demo app (its secret changes at every start of the demo). Sign in again. (%s)", code)
	case "":
		return templates.M("Gatehouse refused, without saying why.")
	}
	return templates.M("Gatehouse refused. (%s)", code)
}

// demoPage is the demo app's one page, on Gatehouse's own stylesheet (served
// by the app at the same hashed URL) so it looks and reads like Gatehouse:
// landmarks, a skip link, headings in order, dark mode. Every word is a
// catalogue message (t, tc, msg); it is executed only as a clone with the
// functions of a request's language (writeDemoPage).
var demoPage = template.Must(template.New("demo").Funcs(demoFuncs(context.Background())).Parse(`<!DOCTYPE html>
<html lang="{{lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{{t "%s · Gatehouse demo app" (msg .Title)}}</title>
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
<a class="skip" href="#main">{{t "Skip to content"}}</a>
<header class="site">
<a class="brand" href="/">{{t "Gatehouse demo app"}}</a>
<nav aria-label="{{t "Demo app"}}">{{if .ID}}<a href="{{.Logout}}">{{t "Sign out"}}</a>{{else}}<a href="/login">{{t "Sign in"}}</a>{{end}}<a href="{{.Issuer}}/">Gatehouse</a></nav>
</header>
<main id="main">
<section class="card">
<h1>{{if .Problem}}{{msg .Problem.Title}}{{else}}{{t "Gatehouse demo app"}}{{end}}</h1>
{{with .Problem}}<div class="problems" data-testid="demo-error">
<p data-testid="demo-error-message">{{msg .Message}}</p>
<p>{{msg .Next}}</p>
{{if .Code}}<p class="muted">{{tc "Error code from Gatehouse: %s" (code .Code)}}</p>{{end}}
</div>
<div class="actions"><a class="button" href="/login" data-testid="demo-signin">{{t "Sign in with Gatehouse"}}</a><a class="button secondary" href="/login?switch=1">{{t "Sign in as someone else"}}</a></div>
{{else}}
<p class="lead">{{tc "An app on its own port that signs in through %s (authorization code with PKCE) and asks for every scope of the Demo Notes API. Gatehouse grants only those the person's roles entitle them to." (link (print .Issuer "/") "Gatehouse")}}</p>
{{if .ID}}
{{if .Acting.Key}}<div class="acting" data-testid="demo-acting-box">
<p><strong data-testid="demo-acting">{{msg .Acting}}</strong></p>
<p>{{tc "Under delegation %[1]s: the access token's %[2]s is whose access it is and %[3]s who uses it (RFC 8693 §4.1); the ID token is about the person who signed in."
 (code $.DelegationID "demo-delegation-id") (code "sub") (code "act.sub")}}</p>
</div>{{end}}
<h2>{{t "How you signed in"}}</h2><p data-testid="demo-authn">{{tc "acr %[1]s, amr %[2]s. After a step-up with a security key: acr %[3]s, amr with %[4]s (a security key) or %[5]s (a passkey) and %[6]s."
 (code (or .ACR (t "(none)")) "demo-acr") (code (or .AMR (t "(none)")) "demo-amr") (code "urn:gatehouse:acr:security-key") (code "hwk") (code "swk") (code "mfa")}}</p>
<h2>{{t "Granted scope"}}</h2><p data-testid="demo-scope"><code>{{.Scope}}</code></p>
<div class="actions">
<form class="inline" method="post" action="/introspect"><button type="submit" data-testid="demo-introspect">{{t "Introspect the access token"}}</button></form>
<form class="inline" method="post" action="/refresh"><button type="submit" class="secondary" data-testid="demo-refresh">{{t "Refresh the tokens"}}</button></form>
<form class="inline" method="post" action="/call-api"><button type="submit" class="secondary" data-testid="demo-call-api">{{t "Call the Demo Notes API"}}</button></form>
</div>
{{with .APICalls}}<section aria-labelledby="api-title" data-testid="demo-api-calls">
<h2 id="api-title">{{t "The Demo Notes API"}}</h2>
<p>{{tc "The app's own API (%[1]s, audience %[2]s) checks the access token with Gatehouse's verifier library, %[3]s. The token is bound to the app's key (%[4]s, RFC 9449 DPoP): whoever copies it cannot use it without the key."
 (code "GET /api/notes") (code "https://api.demo.example") (code "broker/rs") (code "cnf.jkt")}}</p>
{{range .}}<div data-testid="demo-api-call">
<h3>{{msg .Title}}</h3>
<p>{{msg .Authorization}}: <strong data-testid="demo-api-status">HTTP {{.Status}}</strong></p>
{{range .WWWAuthenticate}}<pre data-testid="demo-api-challenge">WWW-Authenticate: {{.}}</pre>{{end}}
{{if .Body}}<pre data-testid="demo-api-body">{{.Body}}</pre>{{end}}
</div>{{end}}
</section>{{end}}
{{with .Introspection}}<section aria-labelledby="introspection-title" data-testid="demo-introspection">
<h2 id="introspection-title">{{t "Introspection"}}</h2>
{{if .Active}}<p class="notice" data-testid="demo-introspection-summary">{{t "Active: Gatehouse accepts this access token."}}</p>
{{else}}<p class="problems" data-testid="demo-introspection-summary">{{t "Not active: Gatehouse no longer accepts this access token (revoked, expired, or its access has ended)."}}</p>{{end}}
{{template "claims" .Claims}}
</section>{{end}}
{{if .Refused.Key}}<p class="problems" data-testid="demo-refresh-refused"><strong>{{t "Refresh refused."}}</strong> {{msg .Refused}}</p>{{end}}
{{with .Refreshed}}<p class="notice" data-testid="demo-refreshed">{{tc "New tokens at %s." (timeOf .)}}</p>{{end}}
</section>
<section class="card" aria-labelledby="access-title">
<h2 id="access-title">{{t "Access token claims"}}</h2>
<div data-testid="demo-access">{{template "claims" .Access}}</div>
<details><summary>{{t "As JSON"}}</summary><pre>{{.AccessJSON}}</pre></details>
<details><summary>{{t "The access token itself (for curl)"}}</summary><pre data-testid="demo-access-token">{{.AccessToken}}</pre></details>
</section>
<section class="card" aria-labelledby="id-title">
<h2 id="id-title">{{t "ID token claims"}}</h2>
<div data-testid="demo-id">{{template "claims" .ID}}</div>
<details><summary>{{t "As JSON"}}</summary><pre>{{.IDJSON}}</pre></details>
</section>
<section class="card" aria-labelledby="userinfo-title">
<h2 id="userinfo-title">UserInfo</h2>
<div data-testid="demo-userinfo">{{template "claims" .UserInfo}}</div>
<details><summary>{{t "As JSON"}}</summary><pre>{{.UserInfoJSON}}</pre></details>
<div class="actions"><a class="button" href="/login" data-testid="demo-signin-again">{{t "Sign in again"}}</a><a class="button secondary" href="/login?security_key=1" data-testid="demo-signin-key">{{t "Sign in with a security key (step-up)"}}</a><a class="button secondary" href="/login?switch=1">{{t "Sign in as someone else"}}</a><a class="button secondary" href="{{.Logout}}" data-testid="demo-signout">{{t "Sign out"}}</a></div>
{{else}}
<div class="actions"><a class="button" href="/login" data-testid="demo-signin">{{t "Sign in with Gatehouse"}}</a><a class="button secondary" href="/login?security_key=1" data-testid="demo-signin-key">{{t "Sign in with a security key (step-up)"}}</a></div>
<p>{{tc "Sign in as %[1]s or %[2]s (OIDC), %[3]s or %[4]s (SAML); %[5]s says what each can show."
 (code "alice@oidc.example") (code "bob@oidc.example") (code "carol@saml.example") (code "dave@saml.example") (link (print .Issuer "/") (t "Gatehouse's start page"))}}</p>
{{end}}
{{end}}
</section>
</main>
<footer class="site">{{t "Gatehouse demo app: runs on this computer only"}}</footer>
</body></html>
{{define "claims"}}<dl class="facts claims">{{range .}}<dt><code>{{.Name}}</code></dt><dd>{{if .Time.IsZero}}{{.Value}}{{else}}{{timeOf .Time}} <span class="muted">({{.Value}})</span>{{end}}</dd>{{end}}</dl>{{end}}`))
