package broker

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

	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// authzEnv is the browser side of issue 4: Gatehouse on TLS with the real OIDC
// issuer (alice, role staff), the API notesAPI and the clients web (confidential),
// web2, first (first-party) and native (public, loopback).
type authzEnv struct {
	*signinEnv
	secrets map[string]string
}

const (
	notesAPI = "https://notes.test"
	appCB    = "https://app.test/cb"
)

func newAuthzEnv(t testing.TB, mut ...func(*store.Client)) *authzEnv {
	t.Helper()
	return newAuthzEnvWith(t, envOptions{}, mut...)
}

// newAuthzEnvWith is newAuthzEnv with sign-in environment options (a wrapped store
// for fault injection, replicas).
func newAuthzEnvWith(t testing.TB, o envOptions, mut ...func(*store.Client)) *authzEnv {
	t.Helper()
	e := &authzEnv{signinEnv: newSigninEnv(t, o), secrets: map[string]string{}}
	e.addOIDC("corp", "oidc.example", false, aliceClaims())
	ctx := context.Background()
	now := e.clk.Now()
	must(t, e.srv().keys.(*keys.Manager).EnsureKey(ctx))
	must(t, e.db.APIs().Create(ctx, store.API{ID: "notes", Audience: notesAPI, Name: "Notes API", CreatedAt: now,
		Scopes: []store.Scope{{Name: "notes.read", Description: "Read your notes"},
			{Name: "notes.write", Description: "Change your notes", Roles: []string{"staff"}},
			{Name: "admin", Description: "Administer everything", Roles: []string{"admin"}}}}))
	code := []string{registry.GrantAuthorizationCode, registry.GrantRefreshToken}
	scopes := []string{"openid", "profile", "email", "notes.read", "notes.write", "admin"}
	for _, c := range []store.Client{
		{ID: "web", Name: "Web App", LogoURI: "https://app.test/logo.png", RedirectURIs: []string{appCB, "https://app.test/cb?a=b"},
			PostLogoutRedirectURIs: []string{"https://app.test/bye"}, GrantTypes: code, Scopes: scopes,
			DefaultAudience: notesAPI, TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: "web2", Name: "Other App", RedirectURIs: []string{"https://app2.test/cb"}, GrantTypes: code, Scopes: scopes,
			DefaultAudience: notesAPI, TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: "first", Name: "First Party", FirstParty: true, RedirectURIs: []string{"https://first.test/cb"}, GrantTypes: code,
			Scopes: scopes, DefaultAudience: notesAPI, TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: "native", Name: "Native", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: code,
			Scopes: scopes, DefaultAudience: notesAPI, TokenEndpointAuthMethod: registry.AuthNone},
	} {
		if !c.Public {
			secret, hash := registry.NewSecret()
			c.SecretHash, e.secrets[c.ID] = hash, secret
		}
		c.CreatedAt, c.UpdatedAt = now, now
		for _, m := range mut {
			m(&c)
		}
		must(t, e.db.Clients().Create(ctx, c))
	}
	return e
}

// authzReq is an authorization request with PKCE S256 and its verifier.
type authzReq struct {
	params   url.Values
	verifier string
}

func newAuthzReq(client, redirect, scope string) authzReq {
	verifier, _ := token.NewOpaque()
	sum := sha256.Sum256([]byte(verifier))
	p := url.Values{"response_type": {"code"}, "client_id": {client}, "scope": {scope}, "state": {"st-" + verifier[:8]},
		"nonce": {"n-" + verifier[:8]}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	if redirect != "" {
		p.Set("redirect_uri", redirect)
	}
	return authzReq{params: p, verifier: verifier}
}

func (q authzReq) url() string { return "/oauth2/authorize?" + q.params.Encode() }

// outcome is where a browser ends up: at the application (Location, or a
// form_post form), or on a Gatehouse page.
type outcome struct {
	status int
	app    *url.URL   // set when the browser was sent to the application
	fields url.Values // form_post fields, or app's query
	page   string
	res    *http.Response
}

// drive follows redirects (and the IdP's hops) like a browser, stopping at the
// first response that leaves for the application or is a page.
func (e *authzEnv) drive(c *http.Client, res *http.Response) outcome {
	e.t.Helper()
	for range 20 {
		if res.StatusCode >= 300 && res.StatusCode < 400 {
			loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
			if err != nil {
				e.t.Fatal(err)
			}
			res.Body.Close()
			if !e.ours(loc.String()) {
				return outcome{status: res.StatusCode, app: loc, fields: loc.Query(), res: res}
			}
			res = e.get(c, loc.String())
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		o := outcome{status: res.StatusCode, page: string(b), res: res}
		if action, fields, ok := autoPostForm(o.page); ok && e.ours(action) {
			// The SAML HTTP-POST binding, to the IdP or back to the ACS.
			res = e.postForm(c, action, fields)
			continue
		} else if ok {
			o.app, _ = url.Parse(action)
			o.fields = fields
		}
		return o
	}
	e.t.Fatal("too many hops")
	return outcome{}
}

// ours reports whether u is Gatehouse or one of the test's IdPs, which a
// browser passes through on its way to the application.
func (e *authzEnv) ours(u string) bool {
	return strings.HasPrefix(u, e.ts.URL) || strings.HasPrefix(u, e.oidc.URL()) ||
		(e.idp != nil && strings.HasPrefix(u, e.idp.Server.URL))
}

// start sends the authorization request from browser c.
func (e *authzEnv) start(c *http.Client, q authzReq) outcome {
	e.t.Helper()
	return e.drive(c, e.get(c, q.url()))
}

// approve submits the consent form on page with decision.
func (e *authzEnv) decide(c *http.Client, page, decision string) outcome {
	e.t.Helper()
	f := formFields(e.t, page, "/oauth2/consent")
	f.Set("decision", decision)
	return e.drive(c, e.postForm(c, "/oauth2/consent", f))
}

// signedIn returns a browser signed in as alice.
func (e *authzEnv) signedIn() *http.Client {
	e.t.Helper()
	c := newClient(e.signinEnv)
	if res, page := e.signIn(c, "alice@oidc.example"); res.StatusCode != 200 || !strings.Contains(page, `data-testid="account"`) {
		e.t.Fatalf("sign-in: %d %s", res.StatusCode, page)
	}
	return c
}

// code runs the whole flow for q in browser c (signing in and approving as
// needed) and returns the application's callback parameters.
func (e *authzEnv) code(c *http.Client, q authzReq) url.Values {
	e.t.Helper()
	o := e.start(c, q)
	if o.app == nil && strings.Contains(o.page, `data-testid="consent"`) {
		o = e.decide(c, o.page, "approve")
	}
	if o.app == nil || o.fields.Get("code") == "" {
		e.t.Fatalf("no code: %d %v\n%s", o.status, o.fields, o.page)
	}
	return o.fields
}

// redeem exchanges a code at the token endpoint as client (basic auth).
func (e *authzEnv) redeem(client, code, verifier, redirect string) (int, map[string]any) {
	e.t.Helper()
	return e.tokenRequest(client, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {redirect}})
}

// refresh uses a refresh token at the token endpoint as client (basic auth).
func (e *authzEnv) refresh(client, rt string) (int, map[string]any) {
	e.t.Helper()
	return e.tokenRequest(client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// tokenRequest posts v to the token endpoint as client (basic auth) and decodes
// the JSON answer.
func (e *authzEnv) tokenRequest(client string, v url.Values) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, e.secrets[client])
	res, err := e.ts.Client().Do(req)
	must(e.t, err)
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// wantNoCode asserts nothing was issued: no code row and no consent row.
func (e *authzEnv) wantNothingIssued(t *testing.T) {
	t.Helper()
	if n := e.count("auth_codes"); n != 0 {
		t.Errorf("%d codes issued", n)
	}
	if n := e.count("consents"); n != 0 {
		t.Errorf("%d consents stored", n)
	}
}

// wantRedirectError asserts an authorization error response at the application,
// carrying state and iss (RFC 9207).
func (e *authzEnv) wantRedirectError(t *testing.T, o outcome, q authzReq, code string) {
	t.Helper()
	if o.app == nil {
		t.Fatalf("want redirect with %s, got %d page\n%s", code, o.status, o.page)
	}
	if o.fields.Get("error") != code || o.fields.Get("iss") != e.ts.URL || o.fields.Get("state") != q.params.Get("state") ||
		o.fields.Get("code") != "" {
		t.Fatalf("want %s with state and iss, got %v", code, o.fields)
	}
}
