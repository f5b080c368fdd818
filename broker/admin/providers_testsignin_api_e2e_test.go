package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// testidText returns the text of the element with data-testid id in page.
func testidText(t *testing.T, page, id string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	brokertest.Must(t, err)
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(text(c))
		}
		return b.String()
	}
	var find func(n *html.Node) (string, bool)
	find = func(n *html.Node) (string, bool) {
		if n.Type == html.ElementNode && brokertest.Attr(n, "data-testid") == id {
			return text(n), true
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if v, ok := find(c); ok {
				return v, ok
			}
		}
		return "", false
	}
	v, _ := find(doc)
	return strings.TrimSpace(v)
}

// startTest starts a test sign-in of provider through the admin API with tok
// and returns its ID and sign-in URL.
func (w *world) startTest(tok, provider string) (id, signInURL string) {
	w.t.Helper()
	status, h, body := w.call("POST", "/api/admin/v1/providers/"+provider+"/test-sign-ins", tok, nil)
	id, _ = body["id"].(string)
	signInURL, _ = body["sign_in_url"].(string)
	exp, _ := time.Parse(time.RFC3339, asString(body["expires_at"]))
	if status != http.StatusCreated || id == "" || !strings.HasPrefix(signInURL, w.TS.URL+"/test-sign-in?ticket=") ||
		h.Get("Location") != "/api/admin/v1/test-sign-ins/"+id || !exp.Equal(w.Clk.Now().Add(10*time.Minute)) {
		w.t.Fatalf("start test of %s: %d %v %v", provider, status, h, body)
	}
	return id, signInURL
}

func asString(v any) string { s, _ := v.(string); return s }

// runTest opens signInURL in a fresh browser (no Gatehouse session), follows
// it through the IdP, and returns the last page and the result code on it.
func (w *world) runTest(signInURL string) (*http.Response, string, string) {
	w.t.Helper()
	c := brokertest.NewClient(w.SigninEnv)
	res, page := w.Follow(c, w.Get(c, signInURL))
	return res, page, testidText(w.t, page, "test-result-code")
}

// testResult fetches a test's result with tok.
func (w *world) testResult(tok, id, code string) (int, map[string]any) {
	w.t.Helper()
	status, _, body := w.call("GET", "/api/admin/v1/test-sign-ins/"+id+"?"+url.Values{"result": {code}}.Encode(), tok, nil)
	return status, body
}

// addAdminClient registers another client_credentials client with the admin
// scope, as a second automation would be.
func (w *world) addAdminClient(id string) {
	w.t.Helper()
	secret, hash := registry.NewSecret()
	c := store.Client{ID: id, Scopes: []string{admin.Scope}, DefaultAudience: w.Srv().Admin().Audience(), SecretHash: hash,
		GrantTypes: []string{registry.GrantClientCredentials}, TokenEndpointAuthMethod: registry.AuthSecretBasic,
		CreatedAt: w.Clk.Now(), UpdatedAt: w.Clk.Now()}
	brokertest.Must(w.t, w.DB.Clients().Create(context.Background(), c))
	w.secrets[id] = secret
}

// TestAdminAPITestSignInOIDC: an automation client starts a test sign-in of
// an OIDC provider; its one-time URL runs in a browser with no Gatehouse
// session; the browser gets only a result code, which the same client opens
// to the claims, the mapped identity and the roles. Nothing is stored (no
// user, session or identity) but the provider.tested event, through
// operations, naming the client via api and holding no claim.
func TestAdminAPITestSignInOIDC(t *testing.T) {
	w := newWorld(t)
	w.AddOIDC("evil", "evil.example", false, map[string]any{"sub": "eve", "email": "eve@evil.example",
		"email_verified": true, "name": "Eve", "groups": []any{"staff"}})
	robot := w.token("robot", "")
	before := w.rows()

	id, signInURL := w.startTest(robot, "evil")
	res, page, code := w.runTest(signInURL)
	if res.StatusCode != 200 || code == "" || testidText(t, page, "test-id") != id || strings.Contains(page, "eve@evil.example") {
		t.Fatalf("test sign-in page: %d %s\n%s", res.StatusCode, res.Request.URL, page)
	}
	status, body := w.testResult(robot, id, code)
	ident, _ := body["identity"].(map[string]any)
	claims, _ := body["claims"].(map[string]any)
	if status != 200 || body["result"] != "succeeded" || body["provider"] != "evil" || body["id"] != id ||
		ident["subject"] != "eve" || ident["email"] != "eve@evil.example" || ident["email_verified"] != true ||
		claims["name"] != "Eve" || asJSON(body["roles"]) != `["staff"]` {
		t.Fatalf("result: %d %v", status, body)
	}
	if after := w.rows(); after != before {
		t.Fatalf("rows (users, sessions, identities) %v, then %v", before, after)
	}
	if us, _ := w.DB.Users().FindByEmail(context.Background(), "eve@evil.example"); len(us) != 0 {
		t.Fatalf("a user was created: %+v", us)
	}
	w.wantAudited("provider.tested", "evil", "client:robot", "api")
	if d := string(w.events("provider.tested")[0].Details); !strings.Contains(d, `"result":"succeeded"`) || strings.Contains(d, "eve") {
		t.Errorf("provider.tested details %s", d)
	}

	// The one-time URL, opened again (here or in another browser), runs no
	// second flow.
	_, page, again := w.runTest(signInURL)
	if again != "" || !strings.Contains(page, `data-status="410"`) {
		t.Fatalf("second use of the sign-in URL:\n%s", page)
	}
	if n := len(w.events("provider.tested")); n != 1 {
		t.Errorf("%d provider.tested events", n)
	}
	// The result stays the caller's for 10 minutes after the sign-in, then
	// is gone.
	w.Clk.Add(9 * time.Minute)
	if status, _ := w.testResult(robot, id, code); status != 200 {
		t.Errorf("result after 9 minutes: %d", status)
	}
	w.Clk.Add(2 * time.Minute)
	robot = w.token("robot", "")
	if status, _ := w.testResult(robot, id, code); status != http.StatusNotFound {
		t.Errorf("result after 11 minutes: %d", status)
	}
}

// TestADM02_TestSignInResultOnlyToItsCaller: another admin client, a token
// without the admin scope and the right caller with another test's ID (or
// none) all get nothing of a test's result: 404 (403 without the scope).
func TestADM02_TestSignInResultOnlyToItsCaller(t *testing.T) {
	w := newWorld(t)
	w.addAdminClient("robot2")
	robot, robot2, svc := w.token("robot", ""), w.token("robot2", ""), w.token("svc", w.Srv().Admin().Audience())
	id, signInURL := w.startTest(robot, "uni")
	_, _, code := w.runTest(signInURL)
	otherID, _ := w.startTest(robot, "uni")
	for _, tc := range []struct {
		name, tok, id, code string
		want                int
	}{
		{"another admin client", robot2, id, code, http.StatusNotFound},
		{"without the admin scope", svc, id, code, http.StatusForbidden},
		{"another test's ID", robot, otherID, code, http.StatusNotFound},
		{"no code", robot, id, "", http.StatusNotFound},
		{"a changed code", robot, id, code[:len(code)-2] + "AA", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := w.call("GET", "/api/admin/v1/test-sign-ins/"+tc.id+"?"+url.Values{"result": {tc.code}}.Encode(), tc.tok, nil)
			wantProblem(t, tc.name, status, http.Header{"Content-Type": {"application/problem+json"}}, body, tc.want)
			if strings.Contains(asJSON(body), "bob") {
				t.Errorf("the answer tells of the result: %v", body)
			}
		})
	}
	if status, body := w.testResult(robot, id, code); status != 200 || body["result"] != "succeeded" {
		t.Fatalf("the caller's own result: %d %v", status, body)
	}
}

// TestAdminAPITestSignInRefused: a response with a wrong audience is refused
// as a sign-in's is; the caller's result says why, nothing is stored, and the
// event records the refusal by the caller via api.
func TestAdminAPITestSignInRefused(t *testing.T) {
	w := newWorld(t)
	iss := w.AddOIDC("evil", "evil.example", false, map[string]any{"sub": "eve", "email": "eve@evil.example"})
	iss.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"aud": "someone-else"} })
	robot := w.token("robot", "")
	before := w.rows()
	id, signInURL := w.startTest(robot, "evil")
	_, _, code := w.runTest(signInURL)
	status, body := w.testResult(robot, id, code)
	if status != 200 || body["result"] != "refused" || body["reason"] != "invalid_response" || body["message"] == "" ||
		body["claims"] != nil || body["identity"] != nil || strings.Contains(asJSON(body), "eve@evil.example") {
		t.Fatalf("refused result: %d %v", status, body)
	}
	if after := w.rows(); after != before {
		t.Fatalf("rows %v, then %v", before, after)
	}
	w.wantAudited("provider.tested", "evil", "client:robot", "api")
	if d := string(w.events("provider.tested")[0].Details); !strings.Contains(d, `"reason":"invalid_response"`) {
		t.Errorf("provider.tested details %s", d)
	}
}

// TestAdminAPITestSignInSAML: a SAML provider's test through the API: the
// ACS POST arrives with no Gatehouse session at all, the result has the
// attributes and the mapped identity, and nothing is stored.
func TestAdminAPITestSignInSAML(t *testing.T) {
	w := newWorld(t)
	w.AddSAML("college", "saml.example", true, brokertest.Carol())
	robot := w.token("robot", "")
	before := w.rows()
	id, signInURL := w.startTest(robot, "college")
	_, page, code := w.runTest(signInURL)
	status, body := w.testResult(robot, id, code)
	ident, _ := body["identity"].(map[string]any)
	if status != 200 || body["result"] != "succeeded" || ident["email"] != brokertest.Carol().UserEmail || len(asJSON(body["claims"])) < 10 {
		t.Fatalf("SAML result: %d %v\n%s", status, body, page)
	}
	if after := w.rows(); after != before {
		t.Fatalf("rows %v, then %v", before, after)
	}
	w.wantAudited("provider.tested", "college", "client:robot", "api")
}

// TestAdminAPITestSignInOnAnyReplica: the result is kept nowhere, so the
// replica that starts the test, the one that runs it and the one that answers
// the result need not be the same; nor is the one-time URL usable twice across
// replicas.
func TestAdminAPITestSignInOnAnyReplica(t *testing.T) {
	w := newWorldWith(t, brokertest.Options{Replicas: 2})
	robot := w.token("robot", "")
	id, signInURL := w.startTest(robot, "uni")
	w.Active.Store(1)
	_, _, code := w.runTest(signInURL)
	w.Active.Store(0)
	if status, body := w.testResult(robot, id, code); status != 200 || body["result"] != "succeeded" {
		t.Fatalf("result on another replica: %d %v", status, body)
	}
	if _, page, again := w.runTest(signInURL); again != "" || !strings.Contains(page, `data-status="410"`) {
		t.Fatalf("second use on another replica:\n%s", page)
	}
}

// TestAdminAPITestSignInDisabledProvider: a disabled provider cannot be
// tested (its endpoints answer nothing): 409, no URL; an unknown one is 404.
func TestAdminAPITestSignInDisabledProvider(t *testing.T) {
	w := newWorld(t)
	robot := w.token("robot", "")
	if status, _, body := w.call("POST", "/api/admin/v1/providers/uni/disable", robot, nil); status != 200 {
		t.Fatalf("disable: %d %v", status, body)
	}
	status, h, body := w.call("POST", "/api/admin/v1/providers/uni/test-sign-ins", robot, nil)
	wantProblem(t, "disabled provider", status, h, body, http.StatusConflict)
	status, h, body = w.call("POST", "/api/admin/v1/providers/nosuch/test-sign-ins", robot, nil)
	wantProblem(t, "unknown provider", status, h, body, http.StatusNotFound)
}
