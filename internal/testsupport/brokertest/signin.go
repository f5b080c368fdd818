package brokertest

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

	"github.com/gatehouse/gatehouse/broker"
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

// Clock is a settable clock shared by the broker and the test IdPs.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// SigninEnv is harness H1 for sign-in: Gatehouse on an httptest TLS server (so
// Secure cookies flow) over one database, optionally as several replicas behind
// the one URL, with the real in-process OIDC issuer (H3) and crewjam SAML IdP.
type SigninEnv struct {
	T        testing.TB
	Clk      *Clock
	DB       *sqlstore.DB
	TS       *httptest.Server
	Replicas []*broker.Server
	// Audits and KeyManagers are each replica's audit writer and signing-key
	// manager, as the harness built them.
	Audits      []*audit.Writer
	KeyManagers []*keys.Manager
	// Cfg is the configuration every replica runs with.
	Cfg *config.Config
	// Active is the index of the replica that serves the next request.
	Active atomic.Int32
	Logs   *testsupport.LockedBuffer
	OIDC   *providertest.OIDCIssuer
	IdP    *providertest.SAMLIdP
	// OIDCPublicPEM is the issuer's public key, for alg-confusion knobs.
	OIDCPublicPEM []byte
	// IdPOnLocalhost puts SAML IdPs on the host name localhost, another site
	// than Gatehouse's 127.0.0.1, so a browser sees the ACS POST as cross-site.
	IdPOnLocalhost bool
}

// SigninT0 is the start of sign-in tests' clock: real-ish "now", since the IdPs' certificates are made around it.
var SigninT0 = time.Now().UTC().Truncate(time.Second)

// Options shape a SigninEnv.
type Options struct {
	DBURL    string // "" = a fresh SQLite file
	Replicas int
	Settings map[string]string
	// WrapStore, if set, wraps the store each replica's server uses.
	WrapStore func(store.Store) store.Store
	// CheckEvery is how often the replicas re-read provider versions; zero
	// means on every request, so that a test sees an admin's edit at once.
	CheckEvery time.Duration
	// PlainLocalhost serves Gatehouse over plain HTTP at http://localhost:PORT,
	// a potentially trustworthy origin (W3C Secure Contexts §3.1) whose host
	// may be a WebAuthn RP ID, which an IP address cannot be (WebAuthn L2
	// §5.1.3 step 8), and where Chromium allows WebAuthn, which it does not on
	// a page with certificate errors (the TLS server's self-signed one).
	PlainLocalhost bool
}

// NewSigninEnv starts the broker (o.Replicas of it) on one httptest TLS server.
func NewSigninEnv(t testing.TB, o Options) *SigninEnv {
	t.Helper()
	e := &SigninEnv{T: t, Clk: &Clock{t: SigninT0}, Logs: &testsupport.LockedBuffer{}}
	var h atomic.Value
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Load().(http.Handler).ServeHTTP(w, r)
	})
	if o.PlainLocalhost {
		e.TS = httptest.NewServer(serve)
		e.TS.URL = strings.Replace(e.TS.URL, "127.0.0.1", "localhost", 1)
	} else {
		e.TS = httptest.NewTLSServer(serve)
	}
	t.Cleanup(e.TS.Close)
	ctx := context.Background()
	if o.DBURL == "" {
		o.DBURL = "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	flags := map[string]string{"GATEHOUSE_ISSUER": e.TS.URL, "GATEHOUSE_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS": safehttp.LoopbackNetworks().String()}
	for k, v := range o.Settings {
		flags[k] = v
	}
	cfg, err := config.Load(config.Source{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	e.Cfg = cfg
	log := slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for i := range o.Replicas {
		db, err := sqlstore.Open(ctx, o.DBURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			e.DB = db
		}
		ring, _ := seal.NewKeyring(cfg.MasterKeys...)
		km, err := keys.NewManager(db.SigningKeys(), ring, keys.Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		aw := audit.NewWriter(db.Audit(), log, audit.Options{FlushInterval: time.Millisecond})
		t.Cleanup(func() { aw.Close(context.Background()) })
		var st store.Store = db
		if o.WrapStore != nil {
			st = o.WrapStore(db)
		}
		s, err := broker.New(broker.Options{Config: cfg, Store: st, Keys: km, Audit: aw, Logger: log, Now: e.Clk.Now,
			HTTPClient:         safehttp.NewClient(safehttp.Options{AllowLoopback: true}),
			ProviderCheckEvery: cmp.Or(o.CheckEvery, time.Nanosecond)})
		if err != nil {
			t.Fatal(err)
		}
		e.Replicas = append(e.Replicas, s)
		e.Audits = append(e.Audits, aw)
		e.KeyManagers = append(e.KeyManagers, km)
	}
	h.Store(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.Replicas[e.Active.Load()].ServeHTTP(w, r)
	}))
	return e
}

func (e *SigninEnv) Srv() *broker.Server { return e.Replicas[e.Active.Load()] }

// AddOIDC starts an OIDC issuer and registers it as provider id for domain.
func (e *SigninEnv) AddOIDC(id, domain string, trust bool, claims map[string]any, mut ...func(*upstream.Spec)) *providertest.OIDCIssuer {
	e.T.Helper()
	iss := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse", ClientSecret: "s3cret-" + id,
		Now: e.Clk.Now, AdvertiseIssParameter: true, Claims: claims})
	e.T.Cleanup(iss.Close)
	spec := upstream.Spec{ID: id, Kind: upstream.KindOIDC, Name: "OIDC " + id, Domains: []string{domain},
		TrustEmailLinking: trust, ClientSecret: "s3cret-" + id,
		OIDC: &upstream.OIDCSettings{Issuer: iss.URL(), ClientID: "gatehouse",
			Common: upstream.Common{RoleRules: []upstream.RoleRule{{Claim: "groups", Value: "staff", Role: "staff"}}}}}
	for _, m := range mut {
		m(&spec)
	}
	e.Upsert(spec)
	if e.OIDC == nil {
		e.OIDC = iss
	}
	return iss
}

// AddSAML starts a crewjam IdP signed in as session and registers it.
func (e *SigninEnv) AddSAML(id, domain string, trust bool, session crewjam.Session, mut ...func(*upstream.Spec)) *providertest.SAMLIdP {
	e.T.Helper()
	k, c := SAMLKeys()
	idp := providertest.NewSAMLIdP(e.Clk.Now, k, c, session)
	e.T.Cleanup(idp.Close)
	if e.IdPOnLocalhost {
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
	e.Upsert(spec)
	res := e.Get(NewClient(e), "/saml/"+id+"/metadata")
	md, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		e.T.Fatalf("SP metadata: %d %s", res.StatusCode, md)
	}
	if err := idp.AddSP(md); err != nil {
		e.T.Fatal(err)
	}
	if e.IdP == nil {
		e.IdP = idp
	}
	return idp
}

var SAMLKeys = sync.OnceValues(func() (*rsa.PrivateKey, *x509.Certificate) {
	return providertest.NewKeyPair("test idp", SigninT0)
})

func (e *SigninEnv) Upsert(spec upstream.Spec) store.ProviderConfig {
	e.T.Helper()
	cfg, _, err := upstream.Upsert(context.Background(), e.DB, e.Srv().Upstreams().Env(), spec)
	if err != nil {
		e.T.Fatalf("Upsert %s: %v", spec.ID, err)
	}
	return cfg
}

// NewClient is harness H4: a cookie jar, no automatic redirects.
func NewClient(e *SigninEnv) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: e.TS.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *SigninEnv) Abs(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return e.TS.URL + path
}

func (e *SigninEnv) Get(c *http.Client, path string) *http.Response {
	e.T.Helper()
	res, err := c.Get(e.Abs(path))
	if err != nil {
		e.T.Fatal(err)
	}
	return res
}

func (e *SigninEnv) PostForm(c *http.Client, target string, form url.Values) *http.Response {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Abs(target), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if strings.HasPrefix(e.Abs(target), e.TS.URL) {
		req.Header.Set("Origin", e.TS.URL)
	}
	res, err := c.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	return res
}

// Follow follows redirects and auto-POST forms (the SAML POST binding, ours and
// the IdP's) until a page that is neither, like a browser with JavaScript would.
func (e *SigninEnv) Follow(c *http.Client, res *http.Response) (*http.Response, string) {
	e.T.Helper()
	for range 20 {
		switch {
		case res.StatusCode >= 300 && res.StatusCode < 400:
			loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
			if err != nil {
				e.T.Fatal(err)
			}
			res.Body.Close()
			res = e.Get(c, loc.String())
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		page := string(b)
		if action, fields, ok := AutoPostForm(page); ok {
			target, _ := res.Request.URL.Parse(action)
			res = e.PostForm(c, target.String(), fields)
			continue
		}
		return res, page
	}
	e.T.Fatal("too many hops")
	return nil, ""
}

// AutoPostForm finds a self-submitting form: ours (id="autopost") or crewjam's
// (SAMLResponse/SAMLRequest fields).
func AutoPostForm(page string) (action string, fields url.Values, ok bool) {
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
			CollectInputs(n, f)
			if Attr(n, "id") == "autopost" || f.Has("SAMLResponse") || f.Has("SAMLRequest") {
				action, fields, ok = Attr(n, "action"), f, true
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

func CollectInputs(n *html.Node, f url.Values) {
	if n.Type == html.ElementNode && n.Data == "input" && Attr(n, "name") != "" && Attr(n, "type") != "submit" {
		f.Add(Attr(n, "name"), Attr(n, "value"))
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		CollectInputs(c, f)
	}
}

func Attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// FormFields returns the fields of the form posting to action on page.
func FormFields(t testing.TB, page, action string) url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var out url.Values
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "form" && Attr(n, "action") == action && out == nil {
			out = url.Values{}
			CollectInputs(n, out)
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

// SignIn types email on the login page and follows the whole flow.
func (e *SigninEnv) SignIn(c *http.Client, email string) (*http.Response, string) {
	e.T.Helper()
	res := e.Get(c, "/login")
	_, page := e.Follow(c, res)
	f := FormFields(e.T, page, "/login")
	f.Set("email", email)
	return e.Follow(c, e.PostForm(c, "/login", f))
}

// ChooseLink answers the link-choice page: "new" for a separate account, or
// the ID of the existing account's provider to link by signing in there.
func (e *SigninEnv) ChooseLink(c *http.Client, page, choice string) (*http.Response, string) {
	e.T.Helper()
	f := FormFields(e.T, page, signin.LinkChoicePath)
	f.Set("choice", choice)
	return e.Follow(c, e.PostForm(c, signin.LinkChoicePath, f))
}

// SessionsOf counts a user's sessions.
func (e *SigninEnv) SessionsOf(userID string) int {
	e.T.Helper()
	ss, err := e.DB.Sessions().ListForUser(context.Background(), userID)
	if err != nil {
		e.T.Fatal(err)
	}
	return len(ss)
}

// count returns the number of rows of what in the database.
func (e *SigninEnv) Users() int      { return e.Count("users") }
func (e *SigninEnv) Sessions() int   { return e.Count("sessions") }
func (e *SigninEnv) Identities() int { return e.Count("identities") }

func (e *SigninEnv) Count(table string) int {
	e.T.Helper()
	n, err := e.DB.Count(context.Background(), table)
	if err != nil {
		e.T.Fatal(err)
	}
	return n
}

// Audited returns the audit events with action, after the queue has flushed.
func (e *SigninEnv) Audited(action string) []store.AuditEvent {
	e.T.Helper()
	for _, aw := range e.Audits {
		Must(e.T, aw.Flush(context.Background()))
	}
	evs, err := e.DB.Audit().List(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		e.T.Fatal(err)
	}
	return evs
}

// Carol is the SAML IdP's signed-in person (faculty, so role teacher).
func Carol() crewjam.Session {
	return crewjam.Session{ID: "idp-sess-1", Index: "idx-1", NameID: "carol@saml.example",
		NameIDFormat: string(crewjam.EmailAddressNameIDFormat), UserEmail: "carol@saml.example",
		UserCommonName: "Carol", CustomAttributes: []crewjam.Attribute{{Name: "eduPersonAffiliation",
			Values: []crewjam.AttributeValue{{Type: "xs:string", Value: "faculty"}}}}}
}

// AliceClaims are the OIDC issuer's claims for alice (group staff, so role staff).
func AliceClaims() map[string]any {
	return map[string]any{"sub": "alice-sub", "email": "alice@oidc.example", "email_verified": true,
		"name": "Alice", "groups": []any{"staff"}}
}

// DeleteAllSessions empties the sessions table, so that a test can assert that
// a later step created none.
func (e *SigninEnv) DeleteAllSessions(t testing.TB) {
	t.Helper()
	if _, err := e.DB.Sessions().DeleteExpired(t.Context(), e.Clk.Now().Add(100*365*24*time.Hour), time.Time{}); err != nil {
		t.Fatal(err)
	}
}
