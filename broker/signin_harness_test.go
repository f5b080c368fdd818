package broker

import (
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"
	"golang.org/x/net/html"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/signin"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/internal/testsupport"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/providers/safehttp"
)

// testClock is a settable clock shared by the broker and the test IdPs.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// signinEnv is harness H1 for sign-in: Gatehouse on an httptest TLS server (so
// Secure cookies flow) over one database, optionally as several replicas behind
// the one URL, with the real in-process OIDC issuer (H3) and crewjam SAML IdP.
type signinEnv struct {
	t        testing.TB
	clk      *testClock
	db       *sqlstore.DB
	ts       *httptest.Server
	replicas []*Server
	active   atomic.Int32
	logs     *testsupport.LockedBuffer
	oidc     *providertest.OIDCIssuer
	idp      *providertest.SAMLIdP
	// oidcPublicPEM is the issuer's public key, for alg-confusion knobs.
	oidcPublicPEM []byte
	// idpOnLocalhost puts SAML IdPs on the host name localhost, another site
	// than Gatehouse's 127.0.0.1, so a browser sees the ACS POST as cross-site.
	idpOnLocalhost bool
}

// t0 for sign-in tests: real-ish "now", since the IdPs' certificates are made around it.
var signinT0 = time.Now().UTC().Truncate(time.Second)

type envOptions struct {
	dbURL    string // "" = a fresh SQLite file
	replicas int
	settings map[string]string
	// wrapStore, if set, wraps the store each replica's server uses.
	wrapStore func(store.Store) store.Store
	// checkEvery is how often the replicas re-read provider versions; zero
	// means on every request, so that a test sees an admin's edit at once.
	checkEvery time.Duration
}

func newSigninEnv(t testing.TB, o envOptions) *signinEnv {
	t.Helper()
	e := &signinEnv{t: t, clk: &testClock{t: signinT0}, logs: &testsupport.LockedBuffer{}}
	var h atomic.Value
	e.ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(e.ts.Close)
	ctx := context.Background()
	if o.dbURL == "" {
		o.dbURL = "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
	}
	if o.replicas == 0 {
		o.replicas = 1
	}
	flags := map[string]string{"GATEHOUSE_ISSUER": e.ts.URL, "GATEHOUSE_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS": safehttp.LoopbackNetworks().String()}
	for k, v := range o.settings {
		flags[k] = v
	}
	cfg, err := config.Load(config.Source{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for i := range o.replicas {
		db, err := sqlstore.Open(ctx, o.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			e.db = db
		}
		ring, _ := seal.NewKeyring(cfg.MasterKeys...)
		km, err := keys.NewManager(db.SigningKeys(), ring, keys.Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		aw := audit.NewWriter(db.Audit(), log, audit.Options{FlushInterval: time.Millisecond})
		t.Cleanup(func() { aw.Close(context.Background()) })
		var st store.Store = db
		if o.wrapStore != nil {
			st = o.wrapStore(db)
		}
		s, err := New(Options{Config: cfg, Store: st, Keys: km, Audit: aw, Logger: log, Now: e.clk.Now,
			HTTPClient:         safehttp.NewClient(safehttp.Options{AllowLoopback: true}),
			ProviderCheckEvery: cmp.Or(o.checkEvery, time.Nanosecond)})
		if err != nil {
			t.Fatal(err)
		}
		e.replicas = append(e.replicas, s)
	}
	h.Store(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.replicas[e.active.Load()].ServeHTTP(w, r)
	}))
	return e
}

func (e *signinEnv) srv() *Server { return e.replicas[e.active.Load()] }

// addOIDC starts an OIDC issuer and registers it as provider id for domain.
func (e *signinEnv) addOIDC(id, domain string, trust bool, claims map[string]any, mut ...func(*upstream.Spec)) *providertest.OIDCIssuer {
	e.t.Helper()
	iss := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse", ClientSecret: "s3cret-" + id,
		Now: e.clk.Now, AdvertiseIssParameter: true, Claims: claims})
	e.t.Cleanup(iss.Close)
	spec := upstream.Spec{ID: id, Kind: upstream.KindOIDC, Name: "OIDC " + id, Domains: []string{domain},
		TrustEmailLinking: trust, ClientSecret: "s3cret-" + id,
		OIDC: &upstream.OIDCSettings{Issuer: iss.URL(), ClientID: "gatehouse",
			Common: upstream.Common{RoleRules: []upstream.RoleRule{{Claim: "groups", Value: "staff", Role: "staff"}}}}}
	for _, m := range mut {
		m(&spec)
	}
	e.upsert(spec)
	if e.oidc == nil {
		e.oidc = iss
	}
	return iss
}

// addSAML starts a crewjam IdP signed in as session and registers it.
func (e *signinEnv) addSAML(id, domain string, trust bool, session crewjam.Session, mut ...func(*upstream.Spec)) *providertest.SAMLIdP {
	e.t.Helper()
	k, c := samlKeys()
	idp := providertest.NewSAMLIdP(e.clk.Now, k, c, session)
	e.t.Cleanup(idp.Close)
	if e.idpOnLocalhost {
		for _, u := range []*url.URL{&idp.IdP.MetadataURL, &idp.IdP.SSOURL, &idp.IdP.LogoutURL} {
			u.Host = strings.Replace(u.Host, "127.0.0.1", "localhost", 1)
		}
	}
	spec := upstream.Spec{ID: id, Kind: upstream.KindSAML, Name: "SAML " + id, Domains: []string{domain},
		TrustEmailLinking: trust, SAML: &upstream.SAMLSettings{MetadataXML: string(idp.Metadata()),
			Common: upstream.Common{RoleRules: []upstream.RoleRule{{Claim: "eduPersonAffiliation", Value: "faculty", Role: "teacher"}}}}}
	for _, m := range mut {
		m(&spec)
	}
	e.upsert(spec)
	res := e.get(newClient(e), "/saml/"+id+"/metadata")
	md, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		e.t.Fatalf("SP metadata: %d %s", res.StatusCode, md)
	}
	if err := idp.AddSP(md); err != nil {
		e.t.Fatal(err)
	}
	if e.idp == nil {
		e.idp = idp
	}
	return idp
}

var samlKeys = sync.OnceValues(func() (*rsa.PrivateKey, *x509.Certificate) {
	return providertest.NewKeyPair("test idp", signinT0)
})

func (e *signinEnv) upsert(spec upstream.Spec) store.ProviderConfig {
	e.t.Helper()
	cfg, _, err := upstream.Upsert(context.Background(), e.db, e.srv().Upstreams().Env(), spec)
	if err != nil {
		e.t.Fatalf("Upsert %s: %v", spec.ID, err)
	}
	return cfg
}

// newClient is harness H4: a cookie jar, no automatic redirects.
func newClient(e *signinEnv) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: e.ts.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *signinEnv) abs(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return e.ts.URL + path
}

func (e *signinEnv) get(c *http.Client, path string) *http.Response {
	e.t.Helper()
	res, err := c.Get(e.abs(path))
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *signinEnv) postForm(c *http.Client, target string, form url.Values) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.abs(target), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if strings.HasPrefix(e.abs(target), e.ts.URL) {
		req.Header.Set("Origin", e.ts.URL)
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// follow follows redirects and auto-POST forms (the SAML POST binding, ours and
// the IdP's) until a page that is neither, like a browser with JavaScript would.
func (e *signinEnv) follow(c *http.Client, res *http.Response) (*http.Response, string) {
	e.t.Helper()
	for range 20 {
		switch {
		case res.StatusCode >= 300 && res.StatusCode < 400:
			loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
			if err != nil {
				e.t.Fatal(err)
			}
			res.Body.Close()
			res = e.get(c, loc.String())
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		page := string(b)
		if action, fields, ok := autoPostForm(page); ok {
			target, _ := res.Request.URL.Parse(action)
			res = e.postForm(c, target.String(), fields)
			continue
		}
		return res, page
	}
	e.t.Fatal("too many hops")
	return nil, ""
}

// autoPostForm finds a self-submitting form: ours (id="autopost") or crewjam's
// (SAMLResponse/SAMLRequest fields).
func autoPostForm(page string) (action string, fields url.Values, ok bool) {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return "", nil, false
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if ok {
			return
		}
		if n.Type == html.ElementNode && n.Data == "form" {
			f := url.Values{}
			collectInputs(n, f)
			if attr(n, "id") == "autopost" || f.Has("SAMLResponse") || f.Has("SAMLRequest") {
				action, fields, ok = attr(n, "action"), f, true
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return action, fields, ok
}

func collectInputs(n *html.Node, f url.Values) {
	if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" && attr(n, "type") != "submit" {
		f.Add(attr(n, "name"), attr(n, "value"))
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		collectInputs(c, f)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// formFields returns the fields of the form posting to action on page.
func formFields(t testing.TB, page, action string) url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var out url.Values
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "form" && attr(n, "action") == action && out == nil {
			out = url.Values{}
			collectInputs(n, out)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if out == nil {
		t.Fatalf("no form posting to %s in page:\n%s", action, page)
	}
	return out
}

// signIn types email on the login page and follows the whole flow.
func (e *signinEnv) signIn(c *http.Client, email string) (*http.Response, string) {
	e.t.Helper()
	res := e.get(c, "/login")
	_, page := e.follow(c, res)
	f := formFields(e.t, page, "/login")
	f.Set("email", email)
	return e.follow(c, e.postForm(c, "/login", f))
}

// chooseLink answers the link-choice page: "new" for a separate account, or
// the ID of the existing account's provider to link by signing in there.
func (e *signinEnv) chooseLink(c *http.Client, page, choice string) (*http.Response, string) {
	e.t.Helper()
	f := formFields(e.t, page, signin.LinkChoicePath)
	f.Set("choice", choice)
	return e.follow(c, e.postForm(c, signin.LinkChoicePath, f))
}

// sessionsOf counts a user's sessions.
func (e *signinEnv) sessionsOf(userID string) int {
	e.t.Helper()
	ss, err := e.db.Sessions().ListForUser(context.Background(), userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(ss)
}

// count returns the number of rows of what in the database.
func (e *signinEnv) users() int      { return e.count("users") }
func (e *signinEnv) sessions() int   { return e.count("sessions") }
func (e *signinEnv) identities() int { return e.count("identities") }

func (e *signinEnv) count(table string) int {
	e.t.Helper()
	n, err := e.db.Count(context.Background(), table)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// audited returns the audit events with action, after the queue has flushed.
func (e *signinEnv) audited(action string) []store.AuditEvent {
	e.t.Helper()
	for _, s := range e.replicas {
		must(e.t, s.audit.Flush(context.Background()))
	}
	evs, err := e.db.Audit().List(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func carol() crewjam.Session {
	return crewjam.Session{ID: "idp-sess-1", Index: "idx-1", NameID: "carol@saml.example",
		NameIDFormat: string(crewjam.EmailAddressNameIDFormat), UserEmail: "carol@saml.example",
		UserCommonName: "Carol", CustomAttributes: []crewjam.Attribute{{Name: "eduPersonAffiliation",
			Values: []crewjam.AttributeValue{{Type: "xs:string", Value: "faculty"}}}}}
}

func aliceClaims() map[string]any {
	return map[string]any{"sub": "alice-sub", "email": "alice@oidc.example", "email_verified": true,
		"name": "Alice", "groups": []any{"staff"}}
}

