package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// world is Gatehouse (brokertest.SigninEnv) with two providers: corp, whose
// role rules make alice (group admins) an admin, and uni, where bob is nobody
// special; the API notes; the clients robot (client_credentials with
// gatehouse:admin) and svc (client_credentials for notes only).
type world struct {
	*brokertest.SigninEnv
	t       *testing.T
	secrets map[string]string
}

const notesAudience = "https://notes.test"

func newWorld(t *testing.T) *world { t.Helper(); return newWorldWith(t, brokertest.Options{}) }

// newWorldWith is newWorld on a SigninEnv shaped by o (other settings).
func newWorldWith(t *testing.T, o brokertest.Options) *world {
	t.Helper()
	e := brokertest.NewSigninEnv(t, o)
	w := &world{SigninEnv: e, t: t, secrets: map[string]string{}}
	e.AddOIDC("corp", "corp.example", true, map[string]any{"sub": "alice", "email": "alice@corp.example",
		"email_verified": true, "name": "Alice", "groups": []any{"admins"}}, func(s *upstream.Spec) {
		s.OIDC.Common.RoleRules = append(s.OIDC.Common.RoleRules, upstream.RoleRule{Claim: "groups", Value: "admins", Role: store.RoleAdmin})
	})
	e.AddOIDC("uni", "uni.example", true, map[string]any{"sub": "bob", "email": "bob@uni.example",
		"email_verified": true, "name": "Bob"})
	ctx := context.Background()
	brokertest.Must(t, e.DB.APIs().Create(ctx, store.API{ID: "notes", Audience: notesAudience, Name: "Notes",
		Scopes: []store.Scope{{Name: "notes.read", Description: "Read your notes"}}, CreatedAt: e.Clk.Now()}))
	brokertest.Must(t, e.KeyManagers[0].EnsureKey(ctx))
	adminAud := e.Srv().Admin().Audience()
	for _, c := range []store.Client{
		{ID: "robot", Scopes: []string{admin.Scope}, DefaultAudience: adminAud},
		{ID: "svc", Scopes: []string{"notes.read"}, DefaultAudience: notesAudience, Audiences: []string{adminAud}},
	} {
		secret, hash := registry.NewSecret()
		c.SecretHash, c.GrantTypes, c.TokenEndpointAuthMethod = hash, []string{registry.GrantClientCredentials}, registry.AuthSecretBasic
		c.CreatedAt, c.UpdatedAt = e.Clk.Now(), e.Clk.Now()
		brokertest.Must(t, e.DB.Clients().Create(ctx, c))
		w.secrets[c.ID] = secret
	}
	return w
}

// signIn returns a browser signed in as email, and that user's ID.
func (w *world) signIn(email string) (*http.Client, string) {
	w.t.Helper()
	c := brokertest.NewClient(w.SigninEnv)
	if res, page := w.SignIn(c, email); res.StatusCode != 200 {
		w.t.Fatalf("sign-in as %s: %d %s", email, res.StatusCode, page)
	}
	return c, w.userID(email)
}

func (w *world) userID(email string) string {
	w.t.Helper()
	us, err := w.DB.Users().FindByEmail(context.Background(), email)
	if err != nil || len(us) != 1 {
		w.t.Fatalf("users with %s: %v %v", email, us, err)
	}
	return us[0].ID
}

// token is a client_credentials access token of client, for resource (or the
// client's default API).
func (w *world) token(client, resource string) string {
	w.t.Helper()
	f := url.Values{"grant_type": {"client_credentials"}}
	if resource != "" {
		f.Set("resource", resource)
	}
	req, _ := http.NewRequest(http.MethodPost, w.Abs("/oauth2/token"), strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, w.secrets[client])
	res, err := w.TS.Client().Do(req)
	brokertest.Must(w.t, err)
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	tok, _ := body["access_token"].(string)
	if res.StatusCode != 200 || tok == "" {
		w.t.Fatalf("token for %s: %d %v\n%s", client, res.StatusCode, body, w.Logs.String())
	}
	return tok
}

// call makes an admin API call with a bearer token ("" for none) and returns
// the status, headers and decoded JSON body.
func (w *world) call(method, path, tok string, body any) (int, http.Header, map[string]any) {
	w.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, w.Abs(path), rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := w.TS.Client().Do(req)
	brokertest.Must(w.t, err)
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, res.Header, out
}

// ops is an operations.Service on the world's database (bootstrap links).
func (w *world) ops() *operations.Service {
	return &operations.Service{Store: w.DB, Upstream: w.Srv().Upstreams().Env(), Audit: w.Audits[0], Now: w.Clk.Now}
}

// api returns the stored API id.
func (w *world) api(id string) store.API {
	w.t.Helper()
	a, err := w.DB.APIs().Get(context.Background(), id)
	brokertest.Must(w.t, err)
	return a
}

// events returns the audit events of action, newest first (after the audit
// writer's flush: admin changes are recorded synchronously).
func (w *world) events(action string) []store.AuditEvent {
	w.t.Helper()
	evs, err := w.DB.Audit().List(context.Background(), store.AuditFilter{Action: action})
	brokertest.Must(w.t, err)
	return evs
}

// page GETs path with c and returns the response and the page.
func (w *world) page(c *http.Client, path string) (*http.Response, string) {
	w.t.Helper()
	res := w.Get(c, path)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

// submit posts the form of page that posts to action, with fields changed.
func (w *world) submit(c *http.Client, page, action string, set url.Values) (*http.Response, string) {
	w.t.Helper()
	f := formFields(w.t, page, action)
	for k, v := range set {
		f[k] = v
	}
	res := w.PostForm(c, action, f)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

var opsActor = operations.Actor{Name: "test", Via: "test"}

// formFields returns what a browser would submit of the form posting to
// action: inputs (checkboxes only when checked) and textareas.
func formFields(t *testing.T, page, action string) url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	brokertest.Must(t, err)
	var out url.Values
	var collect func(n *html.Node)
	collect = func(n *html.Node) {
		if n.Type == html.ElementNode {
			name := brokertest.Attr(n, "name")
			switch {
			case name == "":
			case n.Data == "input" && brokertest.Attr(n, "type") == "checkbox":
				if slices.ContainsFunc(n.Attr, func(a html.Attribute) bool { return a.Key == "checked" }) {
					out.Add(name, brokertest.Attr(n, "value"))
				}
			case n.Data == "input" && brokertest.Attr(n, "type") != "submit":
				out.Add(name, brokertest.Attr(n, "value"))
			case n.Data == "textarea":
				var text string
				if n.FirstChild != nil {
					text = n.FirstChild.Data
				}
				out.Add(name, text)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			collect(c)
		}
	}
	var find func(n *html.Node)
	find = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "form" && brokertest.Attr(n, "action") == action && out == nil {
			out = url.Values{}
			collect(n)
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c)
		}
	}
	find(doc)
	if out == nil {
		t.Fatalf("no form posting to %s in page:\n%s", action, page)
	}
	return out
}
