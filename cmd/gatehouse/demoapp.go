//go:build demo

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/text/language"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
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
	// locale is GATEHOUSE_DEFAULT_LOCALE: the page language when the
	// browser names none Gatehouse has.
	locale language.Tag
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

	// dpop is the app's DPoP key pair (demoapp_api.go); tokenURL is Gatehouse's
	// token endpoint once discovered, where its transport adds proofs.
	dpop     *demoDPoP
	tokenURL atomic.Pointer[string]
	notes    *demoNotesAPI
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
// people names the person a delegated token acts for; locale is the default
// page language.
func startDemoApp(ctx context.Context, ops *operations.Service, addr, issuer string, locale language.Tag,
	people func(ctx context.Context, id string) (store.User, error)) (*demoApp, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	a := &demoApp{issuer: issuer, url: "http://" + ln.Addr().String(), locale: locale, people: people, sessions: map[string]*demoSession{},
		notes: &demoNotesAPI{issuer: issuer}}
	if a.dpop, err = newDemoDPoP(); err != nil {
		ln.Close()
		return nil, err
	}
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
	mux.HandleFunc("POST /call-api", a.handleCallAPI)
	mux.Handle("GET /api/notes", a.notes)
	mux.Handle("GET /static/", demoStatic)
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
		tokenURL := p.Endpoint().TokenURL
		a.tokenURL.Store(&tokenURL)
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
	Issuer string
	Title  templates.Msg
	// Problem is an error as the person reads it: what happened, what to do.
	Problem                          *demoProblem
	Scope                            string
	ID, Access, UserInfo             []demoClaim
	IDJSON, AccessJSON, UserInfoJSON string
	Logout                           string
	AccessToken                      string // raw, for the README's curl line
	Acting                           templates.Msg
	DelegationID                     string
	// ACR and AMR are how the person signed in, from the ID token (OIDC
	// Core §2; RFC 8176 amr values).
	ACR, AMR      string
	Introspection *demoIntrospection
	Refreshed     *time.Time
	Refused       templates.Msg
	APICalls      []demoAPICall
}

// handleLogin starts code + PKCE with state and nonce kept in a cookie.
func (a *demoApp) handleLogin(w http.ResponseWriter, r *http.Request) {
	_, conf, err := a.config(r.Context())
	if err != nil {
		a.fail(w, r, http.StatusBadGateway, a.unreachable())
		return
	}
	state, nonce, verifier := randomString(), randomString(), oauth2.GenerateVerifier()
	http.SetCookie(w, &http.Cookie{Name: demoCookie, Value: state + "." + nonce + "." + verifier, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: 600})
	// OIDC Core §3.1.2.1 ui_locales: Gatehouse's pages go on in the
	// language of the app's, so a Welsh browser gets Welsh all the way.
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce),
		oauth2.SetAuthURLParam("ui_locales", templates.Lang(demoContext(r, a.locale)))}
	if r.URL.Query().Has("switch") {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	if r.URL.Query().Has("security_key") {
		// Gatehouse's documented acr (discovery acr_values_supported): a
		// session that has not used a security key is stepped up.
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", web.ACRSecurityKey))
	}
	http.Redirect(w, r, conf.AuthCodeURL(state, opts...), http.StatusSeeOther)
}

// handleCallback checks state and iss (RFC 9207), redeems the code, verifies the
// ID token and its nonce, and shows what came back.
func (a *demoApp) handleCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	provider, conf, err := a.config(ctx)
	if err != nil {
		a.fail(w, r, http.StatusBadGateway, a.unreachable())
		return
	}
	c, err := r.Cookie(demoCookie)
	parts := []string{}
	if err == nil {
		parts = strings.Split(c.Value, ".")
	}
	ctx = a.dpopContext(ctx)
	q := r.URL.Query()
	switch {
	case len(parts) != 3 || q.Get("state") != parts[0]:
		// RFC 6749 §10.12: an answer to a request this browser did not make.
		a.fail(w, r, http.StatusBadRequest, problemNotRecognised)
		return
	case q.Get("iss") != a.issuer:
		// RFC 9207 §2.4: a mix-up; the code is not sent anywhere.
		a.fail(w, r, http.StatusBadRequest, problemWrongServer)
		return
	case q.Get("error") != "":
		a.fail(w, r, http.StatusOK, authorizeProblem(q.Get("error"), q.Get("error_description")))
		return
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(parts[2]))
	if err != nil {
		p := problemNoExchange
		if re := (*oauth2.RetrieveError)(nil); errors.As(err, &re) {
			p.Code = re.ErrorCode
		} else {
			p = a.unreachable()
		}
		a.fail(w, r, http.StatusBadGateway, p)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: demoAppID}).Verify(ctx, raw)
	if err != nil || idt.Nonce != parts[1] {
		a.fail(w, r, http.StatusBadGateway, problemNotVerified)
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
	a.render(w, r, http.StatusOK, a.view(ctx, sess))
}

// view shows sess's tokens, and, for an access token acting for someone (RFC
// 8693 §4.1: sub is whose access it is, act.sub who uses it), says so plainly.
func (a *demoApp) view(ctx context.Context, sess *demoSession) demoView {
	access := jwtPayload(sess.token.AccessToken)
	v := demoView{Scope: scopeOf(sess.token), ID: claimsOf(sess.idClaims), Access: claimsOf(access), UserInfo: claimsOf(sess.userInfo),
		IDJSON: pretty(sess.idClaims), AccessJSON: pretty(access), UserInfoJSON: pretty(sess.userInfo),
		Logout: sess.logout, AccessToken: sess.token.AccessToken}
	v.ACR, _ = sess.idClaims["acr"].(string)
	if amr, ok := sess.idClaims["amr"].([]any); ok {
		for _, m := range amr {
			if s, ok := m.(string); ok {
				v.AMR = strings.TrimSpace(v.AMR + " " + s)
			}
		}
	}
	act, _ := access["act"].(map[string]any)
	if act == nil {
		return v
	}
	sub, _ := access["sub"].(string)
	actor, _ := act["sub"].(string)
	v.DelegationID, _ = access["delegation_id"].(string)
	v.Acting = templates.M("Acting for %s as %s", a.personName(ctx, sub), a.personName(ctx, actor))
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
		a.fail(w, r, http.StatusForbidden, problemCrossSite)
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
		a.fail(w, r, http.StatusBadGateway, a.unreachable())
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
		a.fail(w, r, http.StatusBadGateway, a.unreachable())
		return
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<16)).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		a.fail(w, r, http.StatusBadGateway, introspectionUnanswered(res.Status))
		return
	}
	active, _ := out["active"].(bool)
	v.Introspection = &demoIntrospection{Active: active, Claims: claimsOf(out)}
	a.render(w, r, http.StatusOK, v)
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
		a.fail(w, r, http.StatusBadGateway, a.unreachable())
		return
	}
	ctx = a.dpopContext(ctx)
	if sess.token.RefreshToken == "" {
		v := a.view(ctx, sess)
		v.Refused = templates.M("Gatehouse gave this sign-in no refresh token, so there is nothing to refresh with.")
		a.render(w, r, http.StatusOK, v)
		return
	}
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: sess.token.RefreshToken}).Token()
	if err != nil {
		v := a.view(ctx, sess)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			a.fail(w, r, http.StatusBadGateway, a.unreachable())
			return
		}
		v.Refused = refreshRefusal(re.ErrorCode)
		a.render(w, r, http.StatusOK, v)
		return
	}
	next := *sess
	next.token = tok
	a.mu.Lock()
	a.sessions[id] = &next
	a.mu.Unlock()
	v := a.view(ctx, &next)
	now := time.Now().UTC()
	v.Refreshed = &now
	a.render(w, r, http.StatusOK, v)
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
