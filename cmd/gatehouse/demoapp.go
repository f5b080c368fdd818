//go:build demo

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html/template"
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
}}

// demoApp is a tiny relying party on its own loopback port: golang.org/x/oauth2
// and go-oidc, authorization code with PKCE, state and nonce. It shows what
// Gatehouse issued: the ID token's claims, the access token's claims and UserInfo.
type demoApp struct {
	issuer string
	url    string // http://127.0.0.1:port
	secret string
	srv    *http.Server

	mu       sync.Mutex
	provider *oidc.Provider
}

// startDemoApp registers the demo API and app (idempotently; the app gets a new
// secret every start, kept only in this process) and serves the app.
func startDemoApp(ctx context.Context, ops *operations.Service, issuer string) (*demoApp, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &demoApp{issuer: issuer, url: "http://" + ln.Addr().String()}
	if a.secret, err = registerDemo(ctx, ops, a.url); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.handleHome)
	mux.HandleFunc("GET /login", a.handleLogin)
	mux.HandleFunc("GET /callback", a.handleCallback)
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
	return a.provider, oauth2.Config{ClientID: demoAppID, ClientSecret: a.secret, Endpoint: a.provider.Endpoint(),
		RedirectURL: a.url + "/callback",
		Scopes:      []string{oidc.ScopeOpenID, "profile", "email", "notes.read", "notes.write", "grades.read", "admin"}}, nil
}

const demoCookie = "demo-app-flow"

func (a *demoApp) handleHome(w http.ResponseWriter, r *http.Request) {
	demoPage.Execute(w, map[string]any{"Issuer": a.issuer})
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
		demoPage.Execute(w, map[string]any{"Issuer": a.issuer, "Error": q.Get("error") + ": " + q.Get("error_description")})
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
	var idClaims, uiClaims map[string]any
	idt.Claims(&idClaims)
	if ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		ui.Claims(&uiClaims)
	}
	http.SetCookie(w, &http.Cookie{Name: demoCookie, Path: "/", MaxAge: -1})
	logout := a.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {a.url + "/"}}.Encode()
	demoPage.Execute(w, map[string]any{"Issuer": a.issuer, "Scope": tok.Extra("scope"), "ID": pretty(idClaims),
		"Access": pretty(jwtPayload(tok.AccessToken)), "UserInfo": pretty(uiClaims), "Logout": logout})
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
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:1rem;overflow:auto}a.button{display:inline-block;padding:.5rem 1rem;background:#234;color:#fff;text-decoration:none;border-radius:4px;margin-right:.5rem}</style>
</head><body>
<h1>Gatehouse demo app</h1>
<p>A relying party on its own port that signs in through Gatehouse ({{.Issuer}}) with the authorization code flow and PKCE,
and asks for every scope of the Demo Notes API. Gatehouse grants only those the person's roles entitle them to.</p>
{{if .Error}}<p data-testid="demo-error"><strong>{{.Error}}</strong></p>{{end}}
{{if .ID}}
<h2>Granted scope</h2><p data-testid="demo-scope"><code>{{.Scope}}</code></p>
<h2>ID token claims</h2><pre data-testid="demo-id">{{.ID}}</pre>
<h2>Access token claims</h2><pre data-testid="demo-access">{{.Access}}</pre>
<h2>UserInfo</h2><pre data-testid="demo-userinfo">{{.UserInfo}}</pre>
<p><a class="button" href="/login?switch=1">Sign in as someone else</a><a class="button" href="{{.Logout}}">Sign out</a></p>
{{else}}
<p><a class="button" href="/login" data-testid="demo-signin">Sign in with Gatehouse</a></p>
{{end}}
</body></html>`))
