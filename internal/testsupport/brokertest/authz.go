package brokertest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// AuthzEnv is the browser side of issue 4: Gatehouse on TLS with the real OIDC
// issuer (alice, role staff), the API NotesAPI and the clients web (confidential),
// web2, first (first-party) and native (public, loopback).
type AuthzEnv struct {
	*SigninEnv
	Secrets map[string]string
}

const (
	NotesAPI = "https://notes.test"
	AppCB    = "https://app.test/cb"
)

func NewAuthzEnv(t testing.TB, mut ...func(*store.Client)) *AuthzEnv {
	t.Helper()
	return NewAuthzEnvWith(t, Options{}, mut...)
}

// NewAuthzEnvWith is NewAuthzEnv with sign-in environment options (a wrapped store
// for fault injection, replicas).
func NewAuthzEnvWith(t testing.TB, o Options, mut ...func(*store.Client)) *AuthzEnv {
	t.Helper()
	e := &AuthzEnv{SigninEnv: NewSigninEnv(t, o), Secrets: map[string]string{}}
	e.AddOIDC("corp", "oidc.example", false, AliceClaims())
	ctx := context.Background()
	now := e.Clk.Now()
	Must(t, e.KeyManagers[e.Active.Load()].EnsureKey(ctx))
	Must(t, e.DB.APIs().Create(ctx, store.API{ID: "notes", Audience: NotesAPI, Name: "Notes API", CreatedAt: now,
		Scopes: []store.Scope{{Name: "notes.read", Description: "Read your notes"},
			{Name: "notes.write", Description: "Change your notes", Roles: []string{"staff"}},
			{Name: "admin", Description: "Administer everything", Roles: []string{"admin"}}}}))
	code := []string{registry.GrantAuthorizationCode, registry.GrantRefreshToken}
	scopes := []string{"openid", "profile", "email", "notes.read", "notes.write", "admin"}
	for _, c := range []store.Client{
		{ID: "web", Name: "Web App", LogoURI: "https://app.test/logo.png", RedirectURIs: []string{AppCB, "https://app.test/cb?a=b"},
			PostLogoutRedirectURIs: []string{"https://app.test/bye"}, GrantTypes: code, Scopes: scopes,
			DefaultAudience: NotesAPI, TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: "web2", Name: "Other App", RedirectURIs: []string{"https://app2.test/cb"}, GrantTypes: code, Scopes: scopes,
			DefaultAudience: NotesAPI, TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: "first", Name: "First Party", FirstParty: true, RedirectURIs: []string{"https://first.test/cb"}, GrantTypes: code,
			Scopes: scopes, DefaultAudience: NotesAPI, TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: "native", Name: "Native", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: code,
			Scopes: scopes, DefaultAudience: NotesAPI, TokenEndpointAuthMethod: registry.AuthNone},
	} {
		if !c.Public {
			secret, hash := registry.NewSecret()
			c.SecretHash, e.Secrets[c.ID] = hash, secret
		}
		c.CreatedAt, c.UpdatedAt = now, now
		for _, m := range mut {
			m(&c)
		}
		Must(t, e.DB.Clients().Create(ctx, c))
	}
	return e
}

// AuthzReq is an authorization request with PKCE S256 and its verifier.
type AuthzReq struct {
	Params   url.Values
	Verifier string
}

func NewAuthzReq(client, redirect, scope string) AuthzReq {
	verifier, _ := token.NewOpaque()
	sum := sha256.Sum256([]byte(verifier))
	p := url.Values{"response_type": {"code"}, "client_id": {client}, "scope": {scope}, "state": {"st-" + verifier[:8]},
		"nonce": {"n-" + verifier[:8]}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	if redirect != "" {
		p.Set("redirect_uri", redirect)
	}
	return AuthzReq{Params: p, Verifier: verifier}
}

func (q AuthzReq) URL() string { return "/oauth2/authorize?" + q.Params.Encode() }

// Outcome is where a browser ends up: at the application (Location, or a
// form_post form), or on a Gatehouse page.
type Outcome struct {
	Status int
	App    *url.URL   // set when the browser was sent to the application
	Fields url.Values // form_post fields, or app's query
	Page   string
	Res    *http.Response
}

// Drive follows redirects (and the IdP's hops) like a browser, stopping at the
// first response that leaves for the application or is a page.
func (e *AuthzEnv) Drive(c *http.Client, res *http.Response) Outcome {
	e.T.Helper()
	for range 20 {
		if res.StatusCode >= 300 && res.StatusCode < 400 {
			loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
			if err != nil {
				e.T.Fatal(err)
			}
			res.Body.Close()
			if !e.Ours(loc.String()) {
				return Outcome{Status: res.StatusCode, App: loc, Fields: loc.Query(), Res: res}
			}
			res = e.Get(c, loc.String())
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		o := Outcome{Status: res.StatusCode, Page: string(b), Res: res}
		if action, fields, ok := AutoPostForm(o.Page); ok && e.Ours(action) {
			// The SAML HTTP-POST binding, to the IdP or back to the ACS.
			res = e.PostForm(c, action, fields)
			continue
		} else if ok {
			o.App, _ = url.Parse(action)
			o.Fields = fields
		}
		return o
	}
	e.T.Fatal("too many hops")
	return Outcome{}
}

// Ours reports whether u is Gatehouse or one of the test's IdPs, which a
// browser passes through on its way to the application.
func (e *AuthzEnv) Ours(u string) bool {
	return strings.HasPrefix(u, e.TS.URL) || strings.HasPrefix(u, e.OIDC.URL()) ||
		(e.IdP != nil && strings.HasPrefix(u, e.IdP.Server.URL))
}

// Start sends the authorization request from browser c.
func (e *AuthzEnv) Start(c *http.Client, q AuthzReq) Outcome {
	e.T.Helper()
	return e.Drive(c, e.Get(c, q.URL()))
}

// Decide submits the consent form on page with decision.
func (e *AuthzEnv) Decide(c *http.Client, page, decision string) Outcome {
	e.T.Helper()
	f := FormFields(e.T, page, "/oauth2/consent")
	f.Set("decision", decision)
	return e.Drive(c, e.PostForm(c, "/oauth2/consent", f))
}

// SignedIn returns a browser signed in as alice.
func (e *AuthzEnv) SignedIn() *http.Client {
	e.T.Helper()
	c := NewClient(e.SigninEnv)
	if res, page := e.SignIn(c, "alice@oidc.example"); res.StatusCode != 200 || !strings.Contains(page, `data-testid="account"`) {
		e.T.Fatalf("sign-in: %d %s", res.StatusCode, page)
	}
	return c
}

// Code runs the whole flow for q in browser c (signing in and approving as
// needed) and returns the application's callback parameters.
func (e *AuthzEnv) Code(c *http.Client, q AuthzReq) url.Values {
	e.T.Helper()
	o := e.Start(c, q)
	if o.App == nil && strings.Contains(o.Page, `data-testid="consent"`) {
		o = e.Decide(c, o.Page, "approve")
	}
	if o.App == nil || o.Fields.Get("code") == "" {
		e.T.Fatalf("no code: %d %v\n%s", o.Status, o.Fields, o.Page)
	}
	return o.Fields
}

// Redeem exchanges a code at the token endpoint as client (basic auth).
func (e *AuthzEnv) Redeem(client, code, verifier, redirect string) (int, map[string]any) {
	e.T.Helper()
	return e.TokenRequest(client, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {redirect}})
}

// Refresh uses a refresh token at the token endpoint as client (basic auth).
func (e *AuthzEnv) Refresh(client, rt string) (int, map[string]any) {
	e.T.Helper()
	return e.TokenRequest(client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// TokenRequest posts v to the token endpoint as client (basic auth) and decodes
// the JSON answer.
func (e *AuthzEnv) TokenRequest(client string, v url.Values) (int, map[string]any) {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.TS.URL+"/oauth2/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, e.Secrets[client])
	res, err := e.TS.Client().Do(req)
	Must(e.T, err)
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// WantNothingIssued asserts nothing was issued: no code row and no consent row.
func (e *AuthzEnv) WantNothingIssued(t *testing.T) {
	t.Helper()
	if n := e.Count("auth_codes"); n != 0 {
		t.Errorf("%d codes issued", n)
	}
	if n := e.Count("consents"); n != 0 {
		t.Errorf("%d consents stored", n)
	}
}

// WantRedirectError asserts an authorization error response at the application,
// carrying state and iss (RFC 9207).
func (e *AuthzEnv) WantRedirectError(t *testing.T, o Outcome, q AuthzReq, code string) {
	t.Helper()
	if o.App == nil {
		t.Fatalf("want redirect with %s, got %d page\n%s", code, o.Status, o.Page)
	}
	if o.Fields.Get("error") != code || o.Fields.Get("iss") != e.TS.URL || o.Fields.Get("state") != q.Params.Get("state") ||
		o.Fields.Get("code") != "" {
		t.Fatalf("want %s with state and iss, got %v", code, o.Fields)
	}
}

// UserinfoCall calls UserInfo with an Authorization header value (or none).
func (e *AuthzEnv) UserinfoCall(method, path, auth string) *http.Response {
	e.T.Helper()
	req, _ := http.NewRequest(method, e.TS.URL+path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := e.TS.Client().Do(req)
	Must(e.T, err)
	res.Body.Close()
	return res
}
