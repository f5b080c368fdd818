//go:build demo

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// demoIdPs are the demo's two in-process identity providers on loopback.
type demoIdPs struct {
	oidc *providertest.OIDCIssuer
	saml *providertest.SAMLIdP
}

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

// startDemoIdPs starts the demo IdPs and registers them as providers (creating
// or updating them by ID, so restarts are idempotent), with role rules that give
// the demo people different roles.
func startDemoIdPs(ctx context.Context, ops *operations.Service, o *broker.Options) (*demoIdPs, error) {
	uenv := ops.Upstream
	d := &demoIdPs{}
	oidcAddr, samlAddr := demoIdPAddrs(o.Config.ListenAddr)
	const secret = "demo-client-secret-loopback-only"
	d.oidc = providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse-demo", ClientSecret: secret,
		Addr: oidcAddr, Now: time.Now, AdvertiseIssParameter: true, Users: []providertest.DemoUser{
			{Label: "Alice (alice@oidc.example), an administrator", Claims: map[string]any{"sub": "alice", "email": "alice@oidc.example",
				"email_verified": true, "name": "Alice Example", "groups": []any{"staff", "admins"}}},
			{Label: "Bob (bob@oidc.example), staff", Claims: map[string]any{"sub": "bob", "email": "bob@oidc.example",
				"email_verified": true, "name": "Bob Example", "groups": []any{"staff"}}},
		}})
	key, cert := providertest.NewKeyPair("gatehouse demo SAML IdP", time.Now())
	d.saml = providertest.NewSAMLIdPOn(samlAddr, time.Now, key, cert, crewjam.Session{})
	idp := d.saml.IdP
	idp.MetadataURL, idp.SSOURL, idp.LogoutURL = onLocalhost(idp.MetadataURL), onLocalhost(idp.SSOURL), onLocalhost(idp.LogoutURL)
	affiliation := func(v string) []crewjam.Attribute {
		return []crewjam.Attribute{{Name: "eduPersonAffiliation", Values: []crewjam.AttributeValue{{Type: "xs:string", Value: v}}}}
	}
	d.saml.SetUsers(
		crewjam.Session{ID: "demo-carol", Index: "carol-1", NameID: "carol@saml.example", NameIDFormat: string(crewjam.EmailAddressNameIDFormat),
			UserEmail: "carol@saml.example", UserCommonName: "Carol Example", CustomAttributes: affiliation("faculty")},
		crewjam.Session{ID: "demo-dave", Index: "dave-1", NameID: "dave@saml.example", NameIDFormat: string(crewjam.EmailAddressNameIDFormat),
			UserEmail: "dave@saml.example", UserCommonName: "Dave Example", CustomAttributes: affiliation("student")},
	)
	specs := []upstream.Spec{
		{ID: "demo-oidc", Kind: upstream.KindOIDC, Name: "Demo OIDC (oidc.example)", Domains: []string{"oidc.example"},
			TrustEmailLinking: true, ClientSecret: secret, OIDC: &upstream.OIDCSettings{Issuer: d.oidc.URL(), ClientID: "gatehouse-demo",
				Common: upstream.Common{RoleRules: []upstream.RoleRule{
					{Claim: "groups", Value: "admins", Role: "admin"}, {Claim: "groups", Value: "staff", Role: "staff"}}}}},
		{ID: "demo-saml", Kind: upstream.KindSAML, Name: "Demo SAML (saml.example)", Domains: []string{"saml.example"},
			TrustEmailLinking: true, SAML: &upstream.SAMLSettings{MetadataXML: string(d.saml.Metadata()),
				Common: upstream.Common{RoleRules: []upstream.RoleRule{
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
		if err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}
