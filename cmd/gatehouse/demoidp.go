//go:build demo

package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
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

// startDemoIdPs starts the demo IdPs and registers them as providers (creating
// or updating them by ID, so restarts are idempotent), with role rules that give
// the demo people different roles.
func startDemoIdPs(ctx context.Context, db *sqlstore.DB, uenv upstream.Env, o *broker.Options) (*demoIdPs, error) {
	d := &demoIdPs{}
	const secret = "demo-client-secret-loopback-only"
	d.oidc = providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse-demo", ClientSecret: secret,
		Now: time.Now, AdvertiseIssParameter: true, Users: []providertest.DemoUser{
			{Label: "Alice (alice@oidc.example), an administrator", Claims: map[string]any{"sub": "alice", "email": "alice@oidc.example",
				"email_verified": true, "name": "Alice Example", "groups": []any{"staff", "admins"}}},
			{Label: "Bob (bob@oidc.example), staff", Claims: map[string]any{"sub": "bob", "email": "bob@oidc.example",
				"email_verified": true, "name": "Bob Example", "groups": []any{"staff"}}},
		}})
	key, cert := providertest.NewKeyPair("gatehouse demo SAML IdP", time.Now())
	d.saml = providertest.NewSAMLIdP(time.Now, key, cert, crewjam.Session{})
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
		cfg, _, err := upstream.Upsert(ctx, db, uenv, sp)
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
