//go:build demo

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
)

// The demo's API and application. The API's scopes are granted by the demo IdPs'
// roles, so the demo people get different scopes: alice (admin, staff) all of
// them, bob (staff) read and write, carol (teacher) read, write and grades, dave
// (student) read and grades.read.
const (
	demoAPIAudience = "https://api.demo.example"
	demoAppID       = "demo-app"
)

var demoAPI = store.API{ID: "demo-api", Audience: demoAPIAudience, Name: "Demo Notes API", Scopes: []store.Scope{
	{Name: "notes.read", Description: "Read your notes"},
	{Name: "notes.write", Description: "Create and change your notes", Roles: []string{"staff", "teacher"}},
	{Name: "grades.read", Description: "See grades", Roles: []string{"teacher", "student"}},
	{Name: "admin", Description: "Administer the notes service", Roles: []string{"admin"}},
},
	// README "Delegation in the demo": alice may let bob read (or change) her
	// notes for up to 30 days; grades and admin stay hers, and bob may not pass
	// it on.
	Delegation: store.DelegationPolicy{Allowed: true, MaxDuration: 30 * 24 * time.Hour,
		Scopes: []string{"notes.read", "notes.write"}}}

// demoApp is a tiny relying party on its own loopback port: golang.org/x/oauth2
// and go-oidc, authorization code with PKCE, state and nonce. It shows what
// Gatehouse issued: the ID token's claims, the access token's claims and UserInfo,
// who a token acting for someone is about, and lets the person introspect the
// access token and refresh, as an app does to see whether access still holds.
type demoApp struct {
	issuer string
	url    string // http://127.0.0.1:port
	secret string
	srv    *http.Server
	// people looks a Gatehouse account up by ID. A token acting for someone
	// carries none of their profile (README "Acting for someone"); a real app
	// knows its users or asks its own directory, the demo app, in Gatehouse's
	// process, asks Gatehouse's database.
	people func(ctx context.Context, id string) (store.User, error)

	mu       sync.Mutex
	provider *oidc.Provider
	// sessions are the tokens each browser got, by the demo-app-session
	// cookie, kept server-side as an app keeps them (never in the page).
	sessions map[string]*demoSession
}

// demoSession is what one browser's sign-in got. It is never changed once
// stored: a refresh stores a new one, so handlers share no mutable state.
type demoSession struct {
	token    *oauth2.Token
	idClaims map[string]any
	userInfo map[string]any
	logout   string
}

// maxDemoSessions bounds the demo app's memory: past it, a sign-in makes the
// app forget some other browser's tokens.
const maxDemoSessions = 100

// startDemoApp registers the demo API and app (idempotently; the app gets a new
// secret every start, kept only in this process) and serves the app on addr.
// people names the person a delegated token acts for.
func startDemoApp(ctx context.Context, ops *operations.Service, addr, issuer string,
	people func(ctx context.Context, id string) (store.User, error)) (*demoApp, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	a := &demoApp{issuer: issuer, url: "http://" + ln.Addr().String(), people: people, sessions: map[string]*demoSession{}}
	if a.secret, err = registerDemo(ctx, ops, a.url); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.handleHome)
	mux.HandleFunc("GET /login", a.handleLogin)
	mux.HandleFunc("GET /callback", a.handleCallback)
	mux.HandleFunc("POST /introspect", a.handleIntrospect)
	mux.HandleFunc("POST /refresh", a.handleRefresh)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go a.srv.Serve(ln)
	return a, nil
}

func (a *demoApp) Close() { a.srv.Close() }

// registerDemo creates or updates the demo API and the demo app's client through
// the admin operations, as an admin would, and returns the app's new secret.
func registerDemo(ctx context.Context, ops *operations.Service, appURL string) (string, error) {
	if err := upsertDemoAPI(ctx, ops, demoAPI); err != nil {
		return "", err
	}
	return upsertDemoClient(ctx, ops, store.Client{ID: demoAppID, Name: "Gatehouse demo app",
		// This start's exact address: the app is confidential, and only native
		// (public) clients match a loopback redirect URI on any port (RFC 8252 §7.3).
		RedirectURIs: []string{appURL + "/callback"}, PostLogoutRedirectURIs: []string{appURL + "/"},
		GrantTypes:      []string{registry.GrantAuthorizationCode, registry.GrantRefreshToken},
		Scopes:          []string{"openid", "profile", "email", "notes.read", "notes.write", "grades.read", "admin"},
		DefaultAudience: demoAPIAudience, TokenEndpointAuthMethod: registry.AuthSecretBasic})
}

// config discovers Gatehouse on first use: it is not listening yet when the app starts.
func (a *demoApp) config(ctx context.Context) (*oidc.Provider, oauth2.Config, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.provider == nil {
		p, err := oidc.NewProvider(ctx, a.issuer)
		if err != nil {
			return nil, oauth2.Config{}, err
		}
		a.provider = p
	}
	ep := a.provider.Endpoint()
	// The app is registered for client_secret_basic. Auto-detection would try
	// the form body after any refusal, turning a refused refresh's invalid_grant
	// into invalid_client.
	ep.AuthStyle = oauth2.AuthStyleInHeader
	return a.provider, oauth2.Config{ClientID: demoAppID, ClientSecret: a.secret, Endpoint: ep,
		RedirectURL: a.url + "/callback",
		Scopes:      []string{oidc.ScopeOpenID, "profile", "email", "notes.read", "notes.write", "grades.read", "admin"}}, nil
}

const (
	demoCookie        = "demo-app-flow"
	demoSessionCookie = "demo-app-session"
)

// demoView is the demo app's page.
type demoView struct {
	Issuer, Error                     string
	Scope, ID, Access, UserInfo       string
	Logout                            string
	AccessToken                       string // raw, for the README's curl line
	Acting, DelegationID              string
	Introspection, Refreshed, Refused string
}

func (a *demoApp) handleHome(w http.ResponseWriter, r *http.Request) {
	demoPage.Execute(w, demoView{Issuer: a.issuer})
}

// handleLogin starts code + PKCE with state and nonce kept in a cookie.
func (a *demoApp) handleLogin(w http.ResponseWriter, r *http.Request) {
	_, conf, err := a.config(r.Context())
	if err != nil {
		http.Error(w, "Gatehouse is not reachable yet.", http.StatusBadGateway)
		return
	}
	state, nonce, verifier := randomString(), randomString(), oauth2.GenerateVerifier()
	http.SetCookie(w, &http.Cookie{Name: demoCookie, Value: state + "." + nonce + "." + verifier, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: 600})
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}
	if r.URL.Query().Has("switch") {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	http.Redirect(w, r, conf.AuthCodeURL(state, opts...), http.StatusSeeOther)
}

// handleCallback checks state and iss (RFC 9207), redeems the code, verifies the
// ID token and its nonce, and shows what came back.
func (a *demoApp) handleCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	provider, conf, err := a.config(ctx)
	if err != nil {
		http.Error(w, "Gatehouse is not reachable.", http.StatusBadGateway)
		return
	}
	c, err := r.Cookie(demoCookie)
	parts := []string{}
	if err == nil {
		parts = strings.Split(c.Value, ".")
	}
	q := r.URL.Query()
	switch {
	case len(parts) != 3 || q.Get("state") != parts[0]:
		http.Error(w, "This sign-in was not started here (state mismatch). Start again at /.", http.StatusBadRequest)
		return
	case q.Get("iss") != a.issuer:
		http.Error(w, "The response names another issuer (mix-up).", http.StatusBadRequest)
		return
	case q.Get("error") != "":
		demoPage.Execute(w, demoView{Issuer: a.issuer, Error: q.Get("error") + ": " + q.Get("error_description")})
		return
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(parts[2]))
	if err != nil {
		http.Error(w, "The code could not be redeemed: "+err.Error(), http.StatusBadGateway)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: demoAppID}).Verify(ctx, raw)
	if err != nil || idt.Nonce != parts[1] {
		http.Error(w, "The ID token did not verify.", http.StatusBadGateway)
		return
	}
	sess := &demoSession{token: tok,
		logout: a.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {a.url + "/"}}.Encode()}
	idt.Claims(&sess.idClaims)
	if ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		ui.Claims(&sess.userInfo)
	}
	id := randomString()
	a.mu.Lock()
	for k := range a.sessions {
		if len(a.sessions) < maxDemoSessions {
			break
		}
		delete(a.sessions, k)
	}
	a.sessions[id] = sess
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: demoCookie, Path: "/", MaxAge: -1})
	http.SetCookie(w, &http.Cookie{Name: demoSessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	demoPage.Execute(w, a.view(ctx, sess))
}

// view shows sess's tokens, and, for an access token acting for someone (RFC
// 8693 §4.1: sub is whose access it is, act.sub who uses it), says so plainly.
func (a *demoApp) view(ctx context.Context, sess *demoSession) demoView {
	access := jwtPayload(sess.token.AccessToken)
	v := demoView{Issuer: a.issuer, Scope: scopeOf(sess.token), ID: pretty(sess.idClaims),
		Access: pretty(access), UserInfo: pretty(sess.userInfo), Logout: sess.logout, AccessToken: sess.token.AccessToken}
	act, _ := access["act"].(map[string]any)
	if act == nil {
		return v
	}
	sub, _ := access["sub"].(string)
	actor, _ := act["sub"].(string)
	v.DelegationID, _ = access["delegation_id"].(string)
	v.Acting = "Acting for " + a.personName(ctx, sub) + " as " + a.personName(ctx, actor)
	return v
}

// personName names the Gatehouse account id, or is id when it is unknown. The
// delegated token's ID token is the actor's but carries only openid (README
// "Acting for someone"), so neither party's name is in the tokens.
func (a *demoApp) personName(ctx context.Context, id string) string {
	if u, err := a.people(ctx, id); err == nil {
		if n := nameAndEmail(u.Name, u.Email); n != "" {
			return n
		}
	}
	return id
}

// scopeOf is the scope the token response granted (RFC 6749 §5.1).
func scopeOf(t *oauth2.Token) string {
	s, _ := t.Extra("scope").(string)
	return s
}

// nameAndEmail is "Alice Example (alice@oidc.example)", or whichever is known.
func nameAndEmail(name, email string) string {
	switch {
	case name == "":
		return email
	case email == "" || email == name:
		return name
	}
	return name + " (" + email + ")"
}

// session is the browser's demoSession, nil when it has none. A POST must come
// from the app's own page: the cookie is SameSite=Lax, and Origin is checked
// when sent.
func (a *demoApp) session(w http.ResponseWriter, r *http.Request) (string, *demoSession) {
	if o := r.Header.Get("Origin"); o != "" && o != a.url {
		http.Error(w, "Cross-site request refused.", http.StatusForbidden)
		return "", nil
	}
	c, err := r.Cookie(demoSessionCookie)
	var sess *demoSession
	if err == nil {
		a.mu.Lock()
		sess = a.sessions[c.Value]
		a.mu.Unlock()
	}
	if sess == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return "", nil
	}
	return c.Value, sess
}

// handleIntrospect asks Gatehouse whether the access token is still active
// (RFC 7662 §2.1; the demo app introspects a token issued to itself), as an app
// would before trusting a token a while after it got it.
func (a *demoApp) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	_, sess := a.session(w, r)
	if sess == nil {
		return
	}
	ctx := r.Context()
	provider, _, err := a.config(ctx)
	if err != nil {
		http.Error(w, "Gatehouse is not reachable.", http.StatusBadGateway)
		return
	}
	var meta struct {
		Introspection string `json:"introspection_endpoint"`
	}
	provider.Claims(&meta)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, meta.Introspection,
		strings.NewReader(url.Values{"token": {sess.token.AccessToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(demoAppID), url.QueryEscape(a.secret)) // RFC 6749 §2.3.1
	v := a.view(ctx, sess)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		v.Introspection = "Gatehouse is not reachable."
	} else {
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(io.LimitReader(res.Body, 1<<16)).Decode(&out); err != nil {
			v.Introspection = "Gatehouse answered " + res.Status
		} else {
			v.Introspection = pretty(out)
		}
	}
	demoPage.Execute(w, v)
}

// handleRefresh uses the refresh token (RFC 6749 §6) and shows the new access
// token, or Gatehouse's refusal (invalid_grant once the access has ended).
func (a *demoApp) handleRefresh(w http.ResponseWriter, r *http.Request) {
	id, sess := a.session(w, r)
	if sess == nil {
		return
	}
	ctx := r.Context()
	_, conf, err := a.config(ctx)
	if err != nil {
		http.Error(w, "Gatehouse is not reachable.", http.StatusBadGateway)
		return
	}
	if sess.token.RefreshToken == "" {
		v := a.view(ctx, sess)
		v.Refused = "Gatehouse gave this sign-in no refresh token."
		demoPage.Execute(w, v)
		return
	}
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: sess.token.RefreshToken}).Token()
	if err != nil {
		v := a.view(ctx, sess)
		v.Refused = "Gatehouse could not be asked."
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			v.Refused = strings.TrimSpace(re.ErrorCode + " " + re.ErrorDescription)
		}
		demoPage.Execute(w, v)
		return
	}
	next := *sess
	next.token = tok
	a.mu.Lock()
	a.sessions[id] = &next
	a.mu.Unlock()
	v := a.view(ctx, &next)
	v.Refreshed = "New tokens at " + time.Now().UTC().Format("15:04:05") + " UTC."
	demoPage.Execute(w, v)
}

func randomString() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// jwtPayload decodes a JWT's claims for display only; an API verifies the
// signature against Gatehouse's JWKS before believing any of it.
func jwtPayload(t string) map[string]any {
	parts := strings.Split(t, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func pretty(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

var demoPage = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse demo app</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:1rem;overflow:auto}a.button,button{display:inline-block;padding:.5rem 1rem;background:#234;color:#fff;text-decoration:none;border:0;border-radius:4px;margin:0 .5rem .5rem 0;font:inherit;cursor:pointer}form{display:inline}.acting{border-left:6px solid #b60;background:#fff4e5;padding:.5rem 1rem;margin:1rem 0}.refused{color:#a00}code{overflow-wrap:anywhere}</style>
</head><body>
<h1>Gatehouse demo app</h1>
<p>A relying party on its own port that signs in through Gatehouse ({{.Issuer}}) with the authorization code flow and PKCE,
and asks for every scope of the Demo Notes API. Gatehouse grants only those the person's roles entitle them to.</p>
{{if .Error}}<p data-testid="demo-error"><strong>{{.Error}}</strong></p>{{end}}
{{if .ID}}
{{if .Acting}}<section class="acting" data-testid="demo-acting-box">
<p><strong data-testid="demo-acting">{{.Acting}}</strong></p>
<p>Under delegation <code data-testid="demo-delegation-id">{{.DelegationID}}</code>: the access token's <code>sub</code> is whose access it is
and <code>act.sub</code> who uses it (RFC 8693 §4.1); the ID token is about the person who signed in.</p>
</section>{{end}}
<h2>Granted scope</h2><p data-testid="demo-scope"><code>{{.Scope}}</code></p>
<form method="post" action="/introspect"><button type="submit" data-testid="demo-introspect">Introspect the access token</button></form>
<form method="post" action="/refresh"><button type="submit" data-testid="demo-refresh">Refresh the tokens</button></form>
{{if .Introspection}}<h2>Introspection</h2><pre data-testid="demo-introspection">{{.Introspection}}</pre>{{end}}
{{if .Refused}}<p class="refused" data-testid="demo-refresh-refused"><strong>Refresh refused: {{.Refused}}</strong></p>{{end}}
{{if .Refreshed}}<p data-testid="demo-refreshed">{{.Refreshed}}</p>{{end}}
<h2>Access token claims</h2><pre data-testid="demo-access">{{.Access}}</pre>
<details><summary>The access token itself (for curl)</summary><pre data-testid="demo-access-token">{{.AccessToken}}</pre></details>
<h2>ID token claims</h2><pre data-testid="demo-id">{{.ID}}</pre>
<h2>UserInfo</h2><pre data-testid="demo-userinfo">{{.UserInfo}}</pre>
<p><a class="button" href="/login" data-testid="demo-signin-again">Sign in again</a><a class="button" href="/login?switch=1">Sign in as someone else</a><a class="button" href="{{.Logout}}">Sign out</a></p>
{{else}}
<p><a class="button" href="/login" data-testid="demo-signin">Sign in with Gatehouse</a></p>
{{end}}
</body></html>`))
