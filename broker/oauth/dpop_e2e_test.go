package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/dpop"
	"github.com/gatehouse/gatehouse/broker/dpop/dpoptest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// RFC 9449 end to end through the real token endpoint, UserInfo and
// introspection, with a real key pair (dpoptest).

const (
	dpopTokenURL    = "https://gatehouse.test/oauth2/token"
	dpopUserInfoURL = "https://gatehouse.test/oauth2/userinfo"
	spaRedirect     = "https://spa.test/cb"
)

func dpopHeader(proof string) http.Header {
	h := http.Header{}
	h.Set("DPoP", proof)
	return h
}

// dpopCode redeems a new code of the public client spa with proof (none if "").
func dpopCode(t *testing.T, fx *brokertest.OAuthFixture, o brokertest.CodeOpts, proof string) (brokertest.Result, func(proof string) brokertest.Result) {
	t.Helper()
	if o.Client == "" {
		o.Client, o.Redirect = "spa", spaRedirect
	}
	code, verifier, _ := fx.NewCode(t, o)
	v := url.Values{"grant_type": {"authorization_code"}, "client_id": {o.Client}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {o.Redirect}}
	auth := ""
	if fx.Secrets[o.Client] != "" {
		auth = "basic:" + o.Client
	}
	redeem := func(proof string) brokertest.Result {
		var h http.Header
		if proof != "" {
			h = dpopHeader(proof)
		}
		return fx.CallWith(t, "/oauth2/token", auth, v, h)
	}
	return redeem(proof), redeem
}

func refreshWith(t *testing.T, fx *brokertest.OAuthFixture, client, rt, proof string) brokertest.Result {
	t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	auth := "basic:" + client
	if fx.Secrets[client] == "" {
		v.Set("client_id", client)
		auth = ""
	}
	var h http.Header
	if proof != "" {
		h = dpopHeader(proof)
	}
	return fx.CallWith(t, "/oauth2/token", auth, v, h)
}

func cnfJKT(t *testing.T, tok string) string {
	t.Helper()
	cnf, _ := jwtClaims(t, tok)["cnf"].(map[string]any)
	s, _ := cnf["jkt"].(string)
	return s
}

func userInfoWith(fx *brokertest.OAuthFixture, scheme, at, proof string) *http.Response {
	r := httptest.NewRequest(http.MethodGet, "/oauth2/userinfo", nil)
	r.Header.Set("Authorization", scheme+" "+at)
	if proof != "" {
		r.Header.Set("DPoP", proof)
	}
	return fx.Do(r)
}

// issued is what a refusal must leave unchanged: refresh tokens stored and
// token.issued events.
func issued(t *testing.T, fx *brokertest.OAuthFixture) [2]int {
	t.Helper()
	return [2]int{fx.Rows(t, "refresh_tokens"), fx.AuditCount(t, "token.issued")}
}

// TestDPoPBindsTokensEndToEnd: a public client's code redeemed with a proof
// gives a DPoP token bound with cnf.jkt (RFC 9449 §5, §6.1) and a refresh token
// bound to the key; introspection reports the binding (§6.2); UserInfo accepts
// the token with the DPoP scheme and a proof with ath (§7.1); refreshing with
// the same key works and keeps the binding.
func TestDPoPBindsTokensEndToEnd(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	k := dpoptest.NewKey(t)
	res, _ := dpopCode(t, fx, brokertest.CodeOpts{}, k.Proof(t, "POST", dpopTokenURL, time.Now()))
	if res.Status != 200 || res.Str("token_type") != "DPoP" {
		t.Fatalf("code redemption: %d %s", res.Status, res.Raw)
	}
	at := res.Str("access_token")
	if got := cnfJKT(t, at); got != k.JKT {
		t.Fatalf("cnf.jkt = %q, want %q", got, k.JKT)
	}
	info := fx.Introspect(t, at)
	if cnf, _ := info["cnf"].(map[string]any); info["token_type"] != "DPoP" || cnf["jkt"] != k.JKT {
		t.Fatalf("introspection: %v", info)
	}
	ui := userInfoWith(fx, "DPoP", at, k.Proof(t, "GET", dpopUserInfoURL, time.Now(), dpoptest.WithAccessToken(at)))
	if ui.StatusCode != 200 {
		t.Fatalf("userinfo with DPoP: %d %s", ui.StatusCode, brokertest.Body(t, ui))
	}
	ref := refreshWith(t, fx, "spa", res.Str("refresh_token"), k.Proof(t, "POST", dpopTokenURL, time.Now()))
	if ref.Status != 200 || ref.Str("token_type") != "DPoP" || cnfJKT(t, ref.Str("access_token")) != k.JKT {
		t.Fatalf("refresh: %d %s", ref.Status, ref.Raw)
	}
	// The rotated refresh token is still bound: without a proof it is refused.
	refreshWith(t, fx, "spa", ref.Str("refresh_token"), "").WantError(t, 400, "invalid_dpop_proof")
}

// TestDPoPConfidentialClient: a confidential client's access tokens are bound
// when it sends a proof, its refresh token is not (RFC 9449 §5: it is bound to
// the client's authentication), and client_credentials binds too.
func TestDPoPConfidentialClient(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	k := dpoptest.NewKey(t)
	res, _ := dpopCode(t, fx, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"}, k.Proof(t, "POST", dpopTokenURL, time.Now()))
	if res.Status != 200 || res.Str("token_type") != "DPoP" || cnfJKT(t, res.Str("access_token")) != k.JKT {
		t.Fatalf("code redemption: %d %s", res.Status, res.Raw)
	}
	ref := refreshWith(t, fx, "web1", res.Str("refresh_token"), "")
	if ref.Status != 200 || ref.Str("token_type") != "Bearer" || cnfJKT(t, ref.Str("access_token")) != "" {
		t.Fatalf("refresh without a proof: %d %s", ref.Status, ref.Raw)
	}
	cc := fx.CallWith(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}},
		dpopHeader(k.Proof(t, "POST", dpopTokenURL, time.Now())))
	if cc.Status != 200 || cc.Str("token_type") != "DPoP" || cnfJKT(t, cc.Str("access_token")) != k.JKT {
		t.Fatalf("client_credentials: %d %s", cc.Status, cc.Raw)
	}
	// Without a proof: Bearer, as before DPoP.
	cc = fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}})
	if cc.Status != 200 || cc.Str("token_type") != "Bearer" || cnfJKT(t, cc.Str("access_token")) != "" {
		t.Fatalf("client_credentials without a proof: %d %s", cc.Status, cc.Raw)
	}
}

// TestDPoPRefusedProofs: each bad proof at the token endpoint is 400
// invalid_dpop_proof (RFC 9449 §5), is audited, issues nothing, and leaves the
// code unspent: the same code then redeems with a good proof.
func TestDPoPRefusedProofs(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	k := dpoptest.NewKey(t)
	used := k.Proof(t, "POST", dpopTokenURL, time.Now())
	if r := fx.CallWith(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}, dpopHeader(used)); r.Status != 200 {
		t.Fatal(r.Raw)
	}
	now := time.Now()
	for _, tc := range []struct{ name, proof string }{
		{"another method", k.Proof(t, "GET", dpopTokenURL, now)},
		{"another URL", k.Proof(t, "POST", "https://gatehouse.test/oauth2/introspect", now)},
		{"another host", k.Proof(t, "POST", "https://evil.test/oauth2/token", now)},
		{"old iat", k.Proof(t, "POST", dpopTokenURL, now.Add(-dpop.DefaultWindow-time.Minute))},
		{"future iat", k.Proof(t, "POST", dpopTokenURL, now.Add(dpop.DefaultWindow+time.Minute))},
		{"replayed jti", used},
		{"wrong typ", k.Proof(t, "POST", dpopTokenURL, now, dpoptest.WithHeader("typ", "JWT"))},
		{"alg none", strings.Join(strings.Split(k.Proof(t, "POST", dpopTokenURL, now, dpoptest.WithHeader("alg", "none")), ".")[:2], ".") + "."},
		{"signed by another key", dpoptest.NewKey(t).Proof(t, "POST", dpopTokenURL, now, dpoptest.WithHeader("jwk", k.Public))},
		{"not a JWT", "not-a-proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, rejected := issued(t, fx), fx.Rejections(t, "dpop_invalid")
			res, redeem := dpopCode(t, fx, brokertest.CodeOpts{}, tc.proof)
			res.WantError(t, 400, "invalid_dpop_proof")
			if strings.Contains(res.Raw, tc.proof) {
				t.Error("the error echoes the proof")
			}
			if after := issued(t, fx); after != before {
				t.Errorf("refresh tokens, token.issued: %v → %v", before, after)
			}
			if fx.Rejections(t, "dpop_invalid") != rejected+1 {
				t.Error("refusal not audited")
			}
			if r := redeem(k.Proof(t, "POST", dpopTokenURL, time.Now())); r.Status != 200 {
				t.Fatalf("the code was spent by the refused request: %s", r.Raw)
			}
		})
	}
	// RFC 9449 §4.3 step 1: two DPoP headers.
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "spa", Redirect: spaRedirect})
	h := http.Header{"Dpop": {k.Proof(t, "POST", dpopTokenURL, now), k.Proof(t, "POST", dpopTokenURL, now)}}
	fx.CallWith(t, "/oauth2/token", "", url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {spaRedirect}}, h).WantError(t, 400, "invalid_dpop_proof")
}

// TestDPoPReplayAcrossReplicas: a proof's jti is recorded once in the shared
// store (RFC 9449 §11.1), so the same proof is refused by another replica.
func TestDPoPReplayAcrossReplicas(t *testing.T) {
	a := brokertest.NewOAuthFixture(t, nil)
	b := &brokertest.OAuthFixture{TestServer: brokertest.NewTestServer(t, "https://gatehouse.test",
		map[string]string{"test-database-url": "sqlite:" + a.DBPath}, nil), Secrets: a.Secrets}
	k := dpoptest.NewKey(t)
	proof := k.Proof(t, "POST", dpopTokenURL, time.Now())
	form := url.Values{"grant_type": {"client_credentials"}}
	if r := a.CallWith(t, "/oauth2/token", "basic:svc", form, dpopHeader(proof)); r.Status != 200 {
		t.Fatal(r.Raw)
	}
	a.AuditCount(t, "token.issued") // flushes a's batched audit into the shared store
	before := b.AuditCount(t, "token.issued")
	b.CallWith(t, "/oauth2/token", "basic:svc", form, dpopHeader(proof)).WantError(t, 400, "invalid_dpop_proof")
	if b.AuditCount(t, "token.issued") != before {
		t.Error("the replayed proof issued a token")
	}
}

// TestDPoPRefreshWrongKey: a public client's refresh token is bound to its
// DPoP key (RFC 9449 §5): a proof by another key, or none, is refused, the
// token is not spent, and nothing is issued.
func TestDPoPRefreshWrongKey(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	k, thief := dpoptest.NewKey(t), dpoptest.NewKey(t)
	res, _ := dpopCode(t, fx, brokertest.CodeOpts{}, k.Proof(t, "POST", dpopTokenURL, time.Now()))
	rt := res.Str("refresh_token")
	before := issued(t, fx)
	refreshWith(t, fx, "spa", rt, thief.Proof(t, "POST", dpopTokenURL, time.Now())).WantError(t, 400, "invalid_dpop_proof")
	refreshWith(t, fx, "spa", rt, "").WantError(t, 400, "invalid_dpop_proof")
	if after := issued(t, fx); after != before {
		t.Errorf("refresh tokens, token.issued: %v → %v", before, after)
	}
	if fx.Rejections(t, "dpop_refresh_key") != 2 {
		t.Error("refusals not audited")
	}
	if r := refreshWith(t, fx, "spa", rt, k.Proof(t, "POST", dpopTokenURL, time.Now())); r.Status != 200 {
		t.Fatalf("the refresh token was spent by the refused requests: %s", r.Raw)
	}
}

// TestDPoPCodeBoundToJKT: a code whose authorization request carried dpop_jkt
// (RFC 9449 §10) redeems only with a proof by that key.
func TestDPoPCodeBoundToJKT(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	k, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	for _, tc := range []struct{ name, proof string }{
		{"another key", other.Proof(t, "POST", dpopTokenURL, time.Now())},
		{"no proof", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := issued(t, fx)
			res, _ := dpopCode(t, fx, brokertest.CodeOpts{DPoPJKT: k.JKT}, tc.proof)
			res.WantError(t, 400, "invalid_dpop_proof")
			if after := issued(t, fx); after != before {
				t.Errorf("refresh tokens, token.issued: %v → %v", before, after)
			}
		})
	}
	res, _ := dpopCode(t, fx, brokertest.CodeOpts{DPoPJKT: k.JKT}, k.Proof(t, "POST", dpopTokenURL, time.Now()))
	if res.Status != 200 || cnfJKT(t, res.Str("access_token")) != k.JKT {
		t.Fatalf("the bound code with its key: %d %s", res.Status, res.Raw)
	}
}

// TestDPoPNonceRequired: with GATEHOUSE_DPOP_NONCE=required a proof without
// the server's nonce is refused with use_dpop_nonce and a DPoP-Nonce header
// (RFC 9449 §8), nothing issued and the code unspent; the retry with the
// nonce succeeds and gets a fresh nonce; a made-up nonce is refused.
func TestDPoPNonceRequired(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, map[string]string{"GATEHOUSE_DPOP_NONCE": "required"})
	k := dpoptest.NewKey(t)
	before := issued(t, fx)
	res, redeem := dpopCode(t, fx, brokertest.CodeOpts{}, k.Proof(t, "POST", dpopTokenURL, time.Now()))
	res.WantError(t, 400, "use_dpop_nonce")
	nonce := res.Header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	redeem(k.Proof(t, "POST", dpopTokenURL, time.Now(), dpoptest.WithNonce("made-up"))).WantError(t, 400, "use_dpop_nonce")
	if after := issued(t, fx); after != before {
		t.Errorf("refresh tokens, token.issued: %v → %v", before, after)
	}
	ok := redeem(k.Proof(t, "POST", dpopTokenURL, time.Now(), dpoptest.WithNonce(nonce)))
	if ok.Status != 200 || ok.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("with the nonce: %d %s (DPoP-Nonce %q)", ok.Status, ok.Raw, ok.Header.Get("DPoP-Nonce"))
	}
	// A replica with the same keys accepts the nonce (stateless, §8): UserInfo
	// here, which asks for it the same way (§9) with 401.
	at := ok.Str("access_token")
	ui := userInfoWith(fx, "DPoP", at, k.Proof(t, "GET", dpopUserInfoURL, time.Now(), dpoptest.WithAccessToken(at)))
	if ui.StatusCode != 401 || !strings.Contains(ui.Header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) || ui.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("userinfo without a nonce: %d %v", ui.StatusCode, ui.Header)
	}
	ui = userInfoWith(fx, "DPoP", at, k.Proof(t, "GET", dpopUserInfoURL, time.Now(), dpoptest.WithAccessToken(at),
		dpoptest.WithNonce(ui.Header.Get("DPoP-Nonce"))))
	if ui.StatusCode != 200 {
		t.Fatalf("userinfo with the nonce: %d %s", ui.StatusCode, brokertest.Body(t, ui))
	}
}

// TestDPoPRequiredByClient: a client registered with dpop_bound_access_tokens
// (RFC 9449 §5.2) gets nothing without a proof.
func TestDPoPRequiredByClient(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	c, err := fx.DB.Clients().Get(t.Context(), "svc")
	brokertest.Must(t, err)
	c.DPoPBoundAccessTokens = true
	brokertest.Must(t, fx.DB.Clients().Update(t.Context(), c))
	before := issued(t, fx)
	form := url.Values{"grant_type": {"client_credentials"}}
	fx.Call(t, "/oauth2/token", "basic:svc", form).WantError(t, 400, "invalid_dpop_proof")
	if after := issued(t, fx); after != before {
		t.Errorf("refresh tokens, token.issued: %v → %v", before, after)
	}
	k := dpoptest.NewKey(t)
	if r := fx.CallWith(t, "/oauth2/token", "basic:svc", form, dpopHeader(k.Proof(t, "POST", dpopTokenURL, time.Now()))); r.Status != 200 {
		t.Fatal(r.Raw)
	}
}

// TestDPoPBoundTokenAtUserInfo: UserInfo refuses a DPoP-bound token presented
// as Bearer (RFC 9449 §7.1), or with a proof by another key, for another
// request, without ath, or replayed; each 401 with a DPoP challenge naming the
// algorithms.
func TestDPoPBoundTokenAtUserInfo(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	k := dpoptest.NewKey(t)
	res, _ := dpopCode(t, fx, brokertest.CodeOpts{}, k.Proof(t, "POST", dpopTokenURL, time.Now()))
	at := res.Str("access_token")
	good := k.Proof(t, "GET", dpopUserInfoURL, time.Now(), dpoptest.WithAccessToken(at))
	if r := userInfoWith(fx, "DPoP", at, good); r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	now := time.Now()
	for _, tc := range []struct{ name, scheme, proof, code string }{
		{"as Bearer", "Bearer", "", "invalid_token"},
		{"as Bearer with a proof", "Bearer", k.Proof(t, "GET", dpopUserInfoURL, now, dpoptest.WithAccessToken(at)), "invalid_token"},
		{"no proof", "DPoP", "", "invalid_dpop_proof"},
		{"another key", "DPoP", dpoptest.NewKey(t).Proof(t, "GET", dpopUserInfoURL, now, dpoptest.WithAccessToken(at)), "invalid_dpop_proof"},
		{"another method", "DPoP", k.Proof(t, "POST", dpopUserInfoURL, now, dpoptest.WithAccessToken(at)), "invalid_dpop_proof"},
		{"no ath", "DPoP", k.Proof(t, "GET", dpopUserInfoURL, now), "invalid_dpop_proof"},
		{"ath of another token", "DPoP", k.Proof(t, "GET", dpopUserInfoURL, now, dpoptest.WithAccessToken("x")), "invalid_dpop_proof"},
		{"replayed", "DPoP", good, "invalid_dpop_proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := userInfoWith(fx, tc.scheme, at, tc.proof)
			body := brokertest.Body(t, r)
			wa := r.Header.Get("WWW-Authenticate")
			if r.StatusCode != 401 || !strings.HasPrefix(wa, "DPoP ") || !strings.Contains(wa, `error="`+tc.code+`"`) ||
				!strings.Contains(wa, `algs="ES256`) {
				t.Fatalf("%d %q", r.StatusCode, wa)
			}
			if strings.Contains(body, "alice") || strings.Contains(body, "sub") {
				t.Fatalf("claims released: %s", body)
			}
		})
	}
	// A bearer token presented as DPoP is refused too.
	plain, _ := dpopCode(t, fx, brokertest.CodeOpts{}, "")
	if r := userInfoWith(fx, "DPoP", plain.Str("access_token"), k.Proof(t, "GET", dpopUserInfoURL, now,
		dpoptest.WithAccessToken(plain.Str("access_token")))); r.StatusCode != 401 {
		t.Fatalf("bearer token as DPoP: %d", r.StatusCode)
	}
}

// TestDPoPDiscovery: discovery advertises the proof algorithms (RFC 9449 §5.1).
func TestDPoPDiscovery(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	res := fx.Do(httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil))
	var d map[string]any
	brokertest.Must(t, json.Unmarshal([]byte(brokertest.Body(t, res)), &d))
	algs, _ := d["dpop_signing_alg_values_supported"].([]any)
	var got []string
	for _, a := range algs {
		got = append(got, a.(string))
	}
	if !slices.Equal(got, dpop.SupportedAlgs) || slices.Contains(got, "none") || slices.Contains(got, "HS256") {
		t.Fatalf("dpop_signing_alg_values_supported = %v", got)
	}
}

// TestDPoPJKTAtAuthorize: dpop_jkt on the authorization request (RFC 9449 §10)
// is checked for form (a malformed one is invalid_request, nothing issued) and
// binds the code through the browser flow: redeemed with a proof by another
// key it issues nothing; with the key it gives a bound token.
func TestDPoPJKTAtAuthorize(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	q.Params.Set("dpop_jkt", "not a thumbprint")
	e.WantRedirectError(t, e.Start(b, q), q, "invalid_request")
	e.WantNothingIssued(t)

	k, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	tokenURL := e.TS.URL + "/oauth2/token"
	redeem := func(q brokertest.AuthzReq, proof string) (int, map[string]any) {
		code := e.Code(b, q).Get("code")
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {q.Verifier},
			"redirect_uri": {brokertest.AppCB}}
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		req.SetBasicAuth("web", e.Secrets["web"])
		res, err := e.TS.Client().Do(req)
		brokertest.Must(t, err)
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	q = brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	q.Params.Set("dpop_jkt", k.JKT)
	if status, out := redeem(q, other.Proof(t, "POST", tokenURL, e.Clk.Now())); status != 400 || out["error"] != "invalid_dpop_proof" ||
		out["access_token"] != nil {
		t.Fatalf("another key: %d %v", status, out)
	}
	if n := e.Count("refresh_tokens"); n != 0 {
		t.Fatalf("%d refresh tokens issued", n)
	}
	q = brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	q.Params.Set("dpop_jkt", k.JKT)
	status, out := redeem(q, k.Proof(t, "POST", tokenURL, e.Clk.Now()))
	if at, _ := out["access_token"].(string); status != 200 || out["token_type"] != "DPoP" || cnfJKT(t, at) != k.JKT {
		t.Fatalf("its key: %d %v", status, out)
	}
}
