package admin_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	crewjam "github.com/crewjam/saml"
	"golang.org/x/oauth2"

	bt "github.com/gatehouse/gatehouse/broker/browsertest"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// TestBrowserAdminJourney is issue 12's "Tests" in one headless Chromium run,
// from an empty database: Gatehouse knows nothing but the one identity provider
// its operator configured (`gatehouse providers add-oidc`: the organisation's
// staff IdP) and the built-in Admin API. `gatehouse admin bootstrap`'s link →
// the first person signs in and becomes admin → in the console, adds an OIDC
// provider (an in-process issuer, discovered through the outbound guard), a
// SAML provider (metadata from an in-process crewjam IdP) and an app (its
// secret read from the page that shows it once) → without a restart, and on
// the other replica, a person signs in to that app through each provider (a
// golang.org/x/oauth2 code flow with PKCE, the browser doing the redirects) →
// the admin finds those sign-ins in the audit log filtered by provider, and in
// the home's chart. axe-core checks every page on the way.
func TestBrowserAdminJourney(t *testing.T) {
	e := brokertest.NewSigninEnv(t, brokertest.Options{Replicas: 2})
	w := &world{SigninEnv: e, t: t, secrets: map[string]string{}}
	clients, err := e.DB.Clients().List(t.Context())
	brokertest.Must(t, err)
	if e.Users() != 0 || e.Count("providers") != 0 || len(clients) != 0 {
		t.Fatalf("the database is not empty: %d users, %d providers, clients %v", e.Users(), e.Count("providers"), clients)
	}

	brokertest.Must(t, e.KeyManagers[0].EnsureKey(t.Context())) // as gatehouse serve does at start

	// The operator: the staff IdP, through the operation the CLI calls, and the
	// bootstrap link (operations.NewBootstrapToken, as the CLI).
	staff := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse", ClientSecret: "staff-secret",
		Now: e.Clk.Now, AdvertiseIssParameter: true, Claims: map[string]any{"sub": "rita", "email": "rita@staff.example",
			"email_verified": true, "name": "Rita Root"}})
	t.Cleanup(staff.Close)
	_, err = w.ops().CreateProvider(t.Context(), operations.Actor{Name: "admin", Via: "cli"}, upstream.Spec{ID: "staff",
		Kind: upstream.KindOIDC, Name: "Staff", Domains: []string{"staff.example"}, ClientSecret: "staff-secret",
		OIDC: &upstream.OIDCSettings{Issuer: staff.URL(), ClientID: "gatehouse"}})
	brokertest.Must(t, err)
	link := w.bootstrapLink()

	// The IdPs the admin will connect, and the app's redirect URI.
	corp := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse-corp", ClientSecret: "corp-secret",
		Now: e.Clk.Now, AdvertiseIssParameter: true, Claims: map[string]any{"sub": "alice", "email": "alice@corp.example",
			"email_verified": true, "name": "Alice"}})
	t.Cleanup(corp.Close)
	k, cert := brokertest.SAMLKeys()
	carol := crewjam.Session{ID: "college-sess", Index: "1", NameID: "carol@college.example",
		NameIDFormat: string(crewjam.EmailAddressNameIDFormat), UserEmail: "carol@college.example", UserCommonName: "Carol"}
	college := providertest.NewSAMLIdP(e.Clk.Now, k, cert, carol)
	t.Cleanup(college.Close)
	var mu sync.Mutex
	var callbacks []string
	app := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cb" {
			mu.Lock()
			callbacks = append(callbacks, r.URL.RawQuery)
			mu.Unlock()
		}
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.Write([]byte(`<!doctype html><html lang="en"><title>Portal</title><p data-testid="app-done">back at the app</p></html>`))
	}))
	t.Cleanup(app.Close)

	admin := bt.New(t, 3*time.Minute)
	step := journeyStep(t, e)
	step(admin, "open the bootstrap link and sign in",
		chromedp.Navigate(e.TS.URL+link), bt.WaitTestID("login-email"))
	bt.Axe(t, admin) // the sign-in page
	step(admin, "sign in at the staff IdP",
		chromedp.SendKeys(bt.Sel("login-email"), "rita@staff.example"), chromedp.Click(bt.Sel("login-submit")),
		bt.WaitTestID("bootstrap-confirm"))
	bt.Axe(t, admin)
	step(admin, "become admin", chromedp.Click(bt.Sel("bootstrap-confirm")), bt.WaitTestID("admin-home"))
	bt.Axe(t, admin)
	ritaID := w.userID("rita@staff.example")
	if evs := w.events("admin.bootstrapped"); len(evs) != 1 || evs[0].Actor != ritaID {
		t.Fatalf("admin.bootstrapped %+v", evs)
	}

	// An OIDC provider: discovery first, through the outbound guard (the
	// harness allow-lists loopback), then its settings.
	step(admin, "open the providers", chromedp.Click(bt.Sel("admin-section-providers")+" a"), bt.WaitTestID("provider-new"))
	bt.Axe(t, admin)
	step(admin, "add a provider", chromedp.Click(bt.Sel("provider-new")), bt.WaitTestID("provider-issuer"))
	bt.Axe(t, admin)
	step(admin, "discover the OIDC issuer",
		chromedp.SendKeys(bt.Sel("provider-issuer"), corp.URL()), chromedp.Click(bt.Sel("provider-discover")),
		bt.WaitTestID("provider-discovery"))
	bt.Axe(t, admin)
	if pkce, _ := bt.Text(admin, "provider-pkce"); !strings.Contains(pkce, "supported") {
		t.Errorf("PKCE: %q", pkce)
	}
	step(admin, "save the OIDC provider",
		chromedp.SendKeys(bt.Sel("provider-id"), "corp"), chromedp.SendKeys(bt.Sel("provider-name"), "Corp"),
		chromedp.SendKeys(bt.Sel("provider-domains"), "corp.example"),
		chromedp.SendKeys(bt.Sel("provider-client-id"), "gatehouse-corp"),
		chromedp.SendKeys(bt.Sel("provider-client-secret"), "corp-secret"),
		chromedp.Click(bt.Sel("provider-save")), bt.WaitTestID("provider-test"))
	bt.Axe(t, admin)

	// A SAML provider from the crewjam IdP's metadata URL; its page says what
	// to give the IdP, which the IdP then learns from the SP metadata URL shown.
	step(admin, "read the SAML metadata",
		chromedp.Navigate(e.TS.URL+"/admin/providers/new"), bt.WaitTestID("provider-metadata-url"),
		chromedp.SendKeys(bt.Sel("provider-metadata-url"), college.IdP.MetadataURL.String()),
		chromedp.Click(bt.Sel("provider-read-metadata")), bt.WaitTestID("provider-metadata"))
	bt.Axe(t, admin)
	step(admin, "save the SAML provider",
		chromedp.SendKeys(bt.Sel("provider-id"), "college"), chromedp.SendKeys(bt.Sel("provider-name"), "College"),
		chromedp.SendKeys(bt.Sel("provider-domains"), "college.example"),
		chromedp.Click(bt.Sel("provider-save")), bt.WaitTestID("sp-metadata"))
	bt.Axe(t, admin)
	spMetadataURL, err := chromedp.Run(admin, chromedp.Value(bt.Sel("sp-metadata")))
	brokertest.Must(t, err)
	res := e.Get(brokertest.NewClient(e), spMetadataURL)
	spMetadata, _ := io.ReadAll(res.Body)
	res.Body.Close()
	brokertest.Must(t, college.AddSP(spMetadata))

	// An app; its secret is on the page that answers, this once.
	step(admin, "open the apps", chromedp.Navigate(e.TS.URL+"/admin"), bt.WaitTestID("admin-home"),
		chromedp.Click(bt.Sel("admin-section-apps")+" a"), bt.WaitTestID("app-new"))
	bt.Axe(t, admin)
	step(admin, "add an app", chromedp.Click(bt.Sel("app-new")), bt.WaitTestID("app-name"))
	bt.Axe(t, admin)
	step(admin, "save the app",
		chromedp.SendKeys(bt.Sel("app-id"), "portal"), chromedp.SendKeys(bt.Sel("app-name"), "Portal"),
		chromedp.SendKeys(bt.Sel("app-redirect-uris"), app.URL+"/cb"),
		chromedp.Click(bt.Sel("app-save")), bt.WaitTestID("app-secret"))
	bt.Axe(t, admin)
	secret, err := chromedp.Run(admin, chromedp.Value(bt.Sel("app-secret")))
	brokertest.Must(t, err)
	// Each change is an audit event naming the admin (ADM-16).
	for _, want := range [][2]string{{"provider.added", "corp"}, {"provider.added", "college"}, {"client.created", "portal"}} {
		if !slices.ContainsFunc(w.events(want[0]), func(ev store.AuditEvent) bool {
			return ev.Target == want[1] && ev.Actor == ritaID && strings.Contains(string(ev.Details), `"via":"console"`)
		}) {
			t.Errorf("no %s of %s by the admin in the console: %+v", want[0], want[1], w.events(want[0]))
		}
	}

	// Without a restart, on the other replica: a person signs in to the app
	// through each new provider, in a browser of their own.
	e.Active.Store(1)
	ctx := oidc.ClientContext(context.Background(), e.TS.Client())
	op, err := oidc.NewProvider(ctx, e.TS.URL)
	brokertest.Must(t, err)
	conf := oauth2.Config{ClientID: "portal", ClientSecret: secret, Endpoint: op.Endpoint(), RedirectURL: app.URL + "/cb",
		Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	for i, who := range []struct{ email, provider string }{{"alice@corp.example", "corp"}, {"carol@college.example", "college"}} {
		person := bt.New(t, time.Minute)
		verifier := oauth2.GenerateVerifier()
		state := "state-" + who.provider
		step(person, who.email+" signs in to the app",
			chromedp.Navigate(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))),
			bt.WaitTestID("login-email"), chromedp.SendKeys(bt.Sel("login-email"), who.email),
			chromedp.Click(bt.Sel("login-submit")), bt.WaitTestID("consent-approve"))
		if i == 0 {
			bt.Axe(t, person) // the consent page
		}
		step(person, who.email+" consents", chromedp.Click(bt.Sel("consent-approve")), bt.WaitTestID("app-done"))
		mu.Lock()
		cb := callbacks[len(callbacks)-1]
		mu.Unlock()
		q, _ := url.ParseQuery(cb)
		if q.Get("state") != state || q.Get("code") == "" {
			t.Fatalf("%s: callback %s", who.email, cb)
		}
		tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		brokertest.Must(t, err)
		raw, _ := tok.Extra("id_token").(string)
		idt, err := op.Verifier(&oidc.Config{ClientID: "portal"}).Verify(ctx, raw)
		brokertest.Must(t, err)
		ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		brokertest.Must(t, err)
		if ui.Email != who.email || idt.Subject != w.userID(who.email) || ui.Subject != idt.Subject {
			t.Errorf("%s: ID token for %s, UserInfo for %s %s", who.provider, idt.Subject, ui.Subject, ui.Email)
		}
	}
	w.flush() // sign-ins are recorded in the background

	// The admin finds each sign-in in the audit log, filtered by provider…
	for _, who := range []struct{ email, provider string }{{"alice@corp.example", "corp"}, {"carol@college.example", "college"}} {
		step(admin, "filter the audit log by "+who.provider,
			chromedp.Navigate(e.TS.URL+"/admin"), bt.WaitTestID("admin-home"),
			chromedp.Click(bt.Sel("admin-section-audit")+" a"), bt.WaitTestID("audit-filter"),
			chromedp.SendKeys(chromedp.CSS("#audit-provider"), who.provider),
			chromedp.Click(bt.Sel("audit-apply")))
		// The unfiltered page has the same form: wait for the filtered one.
		waitFor(t, admin, `location.search.includes("provider=`+who.provider+`") && document.readyState === "complete"`)
		step(admin, "the filtered audit log", bt.WaitTestID("audit-events"))
		bt.Axe(t, admin)
		rows, err := chromedp.Run(admin, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll('[data-testid^="audit-event-"]')].map(r => r.innerText)`))
		brokertest.Must(t, err)
		// The provider's events only (its sign-in, its addition), the sign-in
		// naming the person.
		signins := slices.DeleteFunc(slices.Clone(rows), func(r string) bool { return !strings.Contains(r, "signin.succeeded") })
		if len(signins) != 1 || !strings.Contains(signins[0], w.userID(who.email)) ||
			slices.ContainsFunc(rows, func(r string) bool { return !strings.Contains(r, who.provider) }) {
			t.Errorf("audit log for %s: %q", who.provider, rows)
		}
	}

	// …and in the home's sign-ins chart: a bar each, and the table's numbers.
	step(admin, "the charts", chromedp.Navigate(e.TS.URL+"/admin"), bt.WaitTestID("chart-signins"))
	bt.Axe(t, admin)
	today := e.Clk.Now().UTC().Format(time.DateOnly)
	bars, err := chromedp.Run(admin, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-testid="chart-signins"] svg rect > title')].map(t => t.textContent)`))
	brokertest.Must(t, err)
	day := e.Clk.Now().UTC().Format("2 Jan")
	for _, p := range []string{"corp", "college", "staff"} {
		if !slices.Contains(bars, day+": 1 "+p) {
			t.Errorf("chart bars %q lack %q", bars, day+": 1 "+p)
		}
		n, err := chromedp.Run(admin, chromedp.TextContent(bt.Sel("chart-signins-"+today+"-"+p)))
		if err != nil || strings.TrimSpace(n) != "1" {
			t.Errorf("chart table: %s on %s: %q %v", p, today, n, err)
		}
	}
}

// journeyStep returns a function that runs a named step of actions in a
// browser and, when one fails, stops the test with where the browser was,
// what it showed and the server's logs.
func journeyStep(t *testing.T, e *brokertest.SigninEnv) func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	return func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
			t.Fatalf("%s: %v\nat %s\n%s\n%s", what, err, loc, body, e.Logs)
		}
	}
}

// waitFor evaluates the JavaScript condition until it holds: across a
// navigation, which fails an evaluation (or chromedp.Poll) while it happens.
func waitFor(t *testing.T, ctx context.Context, condition string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](condition))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("still not %s at %s: %v", condition, loc, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
