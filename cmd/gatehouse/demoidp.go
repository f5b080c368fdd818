//go:build demo

package main

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/templates"
)

// demoIdPs are the demo's two in-process identity providers on loopback.
type demoIdPs struct {
	oidc *providertest.OIDCIssuer
	saml *providertest.SAMLIdP

	// For minting tokens to exchange (GET /demo/mint at either IdP).
	oidcUsers  []providertest.DemoUser
	samlUsers  []crewjam.Session
	spEntityID string // Gatehouse's SP entity ID for demo-saml
	tokenURL   string // Gatehouse's token endpoint
}

// demoExchangeAudience is an app of the demo OIDC IdP's organisation, a command-line
// tool, whose ID tokens the demo admin lets Gatehouse exchange (exchange.audiences).
const demoExchangeAudience = "demo-cli"

func (d *demoIdPs) Close() {
	if d.oidc != nil {
		d.oidc.Close()
	}
	if d.saml != nil {
		d.saml.Close()
	}
}

// onLocalhost rewrites a loopback httptest URL to the host name "localhost", the
// demo issuer's host: the IdP's pages are then same-site with Gatehouse, so the
// plain-http demo's Lax flow cookie accompanies the SAML POST back.
func onLocalhost(u url.URL) url.URL {
	u.Host = strings.Replace(u.Host, "127.0.0.1", "localhost", 1)
	return u
}

// demoIdPAddrs are the loopback addresses of the demo's OIDC and SAML IdPs: the
// two ports after Gatehouse's, so that their issuers, and the demo people's
// accounts, stay the same from one start to the next.
func demoIdPAddrs(listen string) (oidcAddr, samlAddr string) {
	_, p, err := net.SplitHostPort(listen)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil || port <= 0 || port > 65533 {
		return "", ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)), net.JoinHostPort("127.0.0.1", strconv.Itoa(port+2))
}

// demoPeople are the demo IdPs' people as the start page introduces them: what
// their roles (from the role rules in startDemoIdPs) let each of them show.
var demoPeople = []templates.DemoPerson{
	{Name: "Alice Example", Email: "alice@oidc.example", Provider: "OIDC",
		Shows: "An administrator (her admins group gives her the admin role): she opens the admin console at /admin, reads and changes notes with the Notes API's admin scope, and can give Bob access to her notes."},
	{Name: "Bob Example", Email: "bob@oidc.example", Provider: "OIDC",
		Shows: "A plain user on the staff: he may read and change notes and nothing more; the admin console turns him away."},
	{Name: "Carol Example", Email: "carol@saml.example", Provider: "SAML",
		Shows: "A teacher who signs in with SAML: she may read and change notes and see grades."},
	{Name: "Dave Example", Email: "dave@saml.example", Provider: "SAML",
		Shows: "A student who signs in with SAML: he may read notes and see grades, the narrowest access of the four."},
}

// startDemoIdPs starts the demo IdPs and registers them as providers (creating
// or updating them by ID, so restarts are idempotent), with role rules that give
// the demo people different roles.
func startDemoIdPs(ctx context.Context, ops *operations.Service, o *broker.Options) (*demoIdPs, error) {
	uenv := ops.Upstream
	d := &demoIdPs{tokenURL: o.Config.Issuer.String() + "/oauth2/token"}
	oidcAddr, samlAddr := demoIdPAddrs(o.Config.ListenAddr)
	const secret = "demo-client-secret-loopback-only"
	d.oidcUsers = []providertest.DemoUser{
		{Label: "Alice Example (alice@oidc.example), an administrator", Claims: map[string]any{"sub": "alice", "email": "alice@oidc.example",
			"email_verified": true, "name": "Alice Example", "groups": []any{"staff", "admins"}}},
		{Label: "Bob Example (bob@oidc.example), staff", Claims: map[string]any{"sub": "bob", "email": "bob@oidc.example",
			"email_verified": true, "name": "Bob Example", "groups": []any{"staff"}}},
	}
	// The pick pages speak the person's language, as Gatehouse's.
	d.oidc = providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse-demo", ClientSecret: secret,
		Addr: oidcAddr, Now: time.Now, AdvertiseIssParameter: true, Users: d.oidcUsers,
		PickPage: demoPickPage(o.Config.DefaultLocale, true)})
	d.oidc.Handle("GET /demo/mint", http.HandlerFunc(d.handleMintIDToken))
	key, cert := providertest.NewKeyPair("gatehouse demo SAML IdP", time.Now())
	d.saml = providertest.NewSAMLIdPOn(samlAddr, time.Now, key, cert, crewjam.Session{})
	idp := d.saml.IdP
	idp.MetadataURL, idp.SSOURL, idp.LogoutURL = onLocalhost(idp.MetadataURL), onLocalhost(idp.SSOURL), onLocalhost(idp.LogoutURL)
	affiliation := func(v string) []crewjam.Attribute {
		return []crewjam.Attribute{{Name: "eduPersonAffiliation", Values: []crewjam.AttributeValue{{Type: "xs:string", Value: v}}}}
	}
	d.samlUsers = []crewjam.Session{
		{ID: "demo-carol", Index: "carol-1", NameID: "carol@saml.example", NameIDFormat: string(crewjam.EmailAddressNameIDFormat),
			UserEmail: "carol@saml.example", UserCommonName: "Carol Example", CustomAttributes: affiliation("faculty")},
		{ID: "demo-dave", Index: "dave-1", NameID: "dave@saml.example", NameIDFormat: string(crewjam.EmailAddressNameIDFormat),
			UserEmail: "dave@saml.example", UserCommonName: "Dave Example", CustomAttributes: affiliation("student")},
	}
	d.saml.SetUsers(d.samlUsers...)
	d.saml.SetPickPage(demoPickPage(o.Config.DefaultLocale, false))
	d.saml.Handle("GET /demo/mint", http.HandlerFunc(d.handleMintAssertion))
	// Token exchange (README "Token exchange"): the demo's people may trade their
	// IdP's tokens for Gatehouse tokens, and be created on first use so a fresh
	// demo works. ID tokens are not one-time so the README script can be run
	// again; each SAML assertion is accepted once anyway (the script mints a
	// fresh one each run).
	oidcExchange := upstream.ExchangeSettings{Enabled: true, Audiences: []string{demoExchangeAudience}, CreateUsers: true}
	samlExchange := upstream.ExchangeSettings{Enabled: true, CreateUsers: true}
	specs := []upstream.Spec{
		{ID: "demo-oidc", Kind: upstream.KindOIDC, Name: "Demo OIDC (oidc.example)", Domains: []string{"oidc.example"},
			TrustEmailLinking: true, ClientSecret: secret, OIDC: &upstream.OIDCSettings{Issuer: d.oidc.URL(), ClientID: "gatehouse-demo",
				Common: upstream.Common{Exchange: oidcExchange, RoleRules: []upstream.RoleRule{
					{Claim: "groups", Value: "admins", Role: "admin"}, {Claim: "groups", Value: "staff", Role: "staff"}}}}},
		{ID: "demo-saml", Kind: upstream.KindSAML, Name: "Demo SAML (saml.example)", Domains: []string{"saml.example"},
			TrustEmailLinking: true, SAML: &upstream.SAMLSettings{MetadataXML: string(d.saml.Metadata()),
				Common: upstream.Common{Exchange: samlExchange, RoleRules: []upstream.RoleRule{
					{Claim: "eduPersonAffiliation", Value: "faculty", Role: "teacher"},
					{Claim: "eduPersonAffiliation", Value: "student", Role: "student"}}}}},
	}
	for _, sp := range specs {
		ch, err := ops.UpsertProvider(ctx, demoActor, sp)
		if errors.Is(err, upstream.ErrIssuerInUse) {
			// The demo IdP could not get its port back, so its issuer moved: a
			// provider's issuer never changes under linked identities, so the
			// demo provider starts afresh (its people sign in as new).
			if _, err = ops.RemoveProvider(ctx, demoActor, operations.ProviderRef{ID: sp.ID}); err == nil {
				ch, err = ops.UpsertProvider(ctx, demoActor, sp)
			}
		}
		cfg := ch.Provider
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("demo provider %s: %w", sp.ID, err)
		}
		if cfg.Kind != upstream.KindSAML {
			continue
		}
		b, err := uenv.Build(cfg)
		if err != nil {
			d.Close()
			return nil, err
		}
		md, _, err := b.Provider.(providers.MetadataProvider).Metadata()
		if err == nil {
			err = d.saml.AddSP(md)
		}
		if err == nil {
			var sp crewjam.EntityDescriptor
			err = xml.Unmarshal(md, &sp)
			d.spEntityID = sp.EntityID
		}
		if err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// handleMintIDToken is the demo OIDC IdP's GET /demo/mint?user=EMAIL: an ID token
// for that demo person, as the organisation's IdP would issue it to its app
// "demo-cli", for the README's token-exchange script. Signed by the IdP's key,
// valid 10 minutes (OIDC Core §2).
func (d *demoIdPs) handleMintIDToken(w http.ResponseWriter, r *http.Request) {
	if !fromLoopback(r) {
		http.Error(w, "The demo mints tokens only for this machine.", http.StatusForbidden)
		return
	}
	user := r.URL.Query().Get("user")
	i := slices.IndexFunc(d.oidcUsers, func(u providertest.DemoUser) bool { return u.Claims["email"] == user })
	if i < 0 {
		http.Error(w, "No such demo person: try alice@oidc.example or bob@oidc.example.", http.StatusNotFound)
		return
	}
	now := time.Now()
	claims := maps.Clone(d.oidcUsers[i].Claims)
	maps.Copy(claims, map[string]any{"iss": d.oidc.URL(), "aud": demoExchangeAudience, "iat": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(), "auth_time": now.Unix(), "jti": randomString()})
	writeMinted(w, providertest.SignJWT(d.oidc.Keys()[0], true, nil, claims))
}

// handleMintAssertion is the demo SAML IdP's GET /demo/mint?user=EMAIL: a signed
// assertion about that demo person for Gatehouse's demo-saml SP, base64url
// (RFC 8693 §3 saml2), a bearer assertion whose Recipient is Gatehouse's token
// endpoint (RFC 7522 §3), valid 5 minutes.
func (d *demoIdPs) handleMintAssertion(w http.ResponseWriter, r *http.Request) {
	if !fromLoopback(r) {
		http.Error(w, "The demo mints assertions only for this machine.", http.StatusForbidden)
		return
	}
	user := r.URL.Query().Get("user")
	i := slices.IndexFunc(d.samlUsers, func(s crewjam.Session) bool { return s.UserEmail == user })
	if i < 0 {
		http.Error(w, "No such demo person: try carol@saml.example or dave@saml.example.", http.StatusNotFound)
		return
	}
	a, err := d.saml.MintAssertion(r, d.spEntityID, d.tokenURL, d.samlUsers[i], 5*time.Minute)
	if err != nil {
		http.Error(w, "The assertion could not be made: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeMinted(w, base64.RawURLEncoding.EncodeToString(a))
}

func writeMinted(w http.ResponseWriter, token string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(token + "\n"))
}

// fromLoopback reports whether r came from this machine: the demo IdPs listen on
// loopback only, and minting says so again.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
