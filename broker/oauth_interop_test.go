package broker

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestInteropGoClients: golang.org/x/oauth2 against a real running server obtains
// tokens that go-oidc verifies offline with Gatehouse's JWKS; the Go client redeems
// a store-created code with PKCE and refreshes.
func TestInteropGoClients(t *testing.T) {
	var fx *oauthFixture
	srv := httptest.NewTLSServer(httpHandler(func() *oauthFixture { return fx }))
	defer srv.Close()
	fx = newOAuthFixture(t, map[string]string{"GATEHOUSE_ISSUER": srv.URL})
	ctx := oidc.ClientContext(context.Background(), srv.Client())
	ctx = context.WithValue(ctx, oauth2.HTTPClient, srv.Client())

	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: fx.secrets["svc"], TokenURL: srv.URL + "/oauth2/token", Scopes: []string{"read"}}
	tok, err := cc.Token(ctx)
	must(t, err)
	keySet := oidc.NewRemoteKeySet(ctx, srv.URL+"/oauth2/jwks")
	v := oidc.NewVerifier(srv.URL, keySet, &oidc.Config{ClientID: rs1, SupportedSigningAlgs: []string{"ES256"}})
	at, err := v.Verify(ctx, tok.AccessToken)
	must(t, err)
	if at.Subject != "svc" {
		t.Fatalf("sub %q", at.Subject)
	}

	provider, err := oidc.NewProvider(ctx, srv.URL)
	must(t, err)
	conf := oauth2.Config{ClientID: "web1", ClientSecret: fx.secrets["web1"], Endpoint: provider.Endpoint(), RedirectURL: "https://app1.test/cb"}
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	code, verifier, _ := fx.newCode(t, codeOpts{client: "web1", redirect: "https://app1.test/cb"})
	t1, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	must(t, err)
	raw, _ := t1.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: "web1", SupportedSigningAlgs: []string{"RS256"}}).Verify(ctx, raw)
	must(t, err)
	must(t, idt.VerifyAccessToken(t1.AccessToken))
	if idt.Subject != "alice" || idt.Nonce != "n-123" {
		t.Fatalf("id token %+v", idt)
	}
	t1.Expiry = t1.Expiry.Add(-24 * 3600 * 1e9) // force a refresh
	t2, err := conf.TokenSource(ctx, t1).Token()
	must(t, err)
	if t2.RefreshToken == t1.RefreshToken || t2.AccessToken == t1.AccessToken {
		t.Fatal("refresh did not rotate")
	}
}
