package oauth_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestInteropGoClients: golang.org/x/oauth2 against a real running server obtains
// tokens that go-oidc verifies offline with Gatehouse's JWKS; the Go client redeems
// a store-created code with PKCE and refreshes.
func TestInteropGoClients(t *testing.T) {
	var fx *brokertest.OAuthFixture
	srv := httptest.NewTLSServer(brokertest.HTTPHandler(func() *brokertest.OAuthFixture { return fx }))
	defer srv.Close()
	fx = brokertest.NewOAuthFixture(t, map[string]string{"GATEHOUSE_ISSUER": srv.URL})
	ctx := oidc.ClientContext(context.Background(), srv.Client())
	ctx = context.WithValue(ctx, oauth2.HTTPClient, srv.Client())

	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: fx.Secrets["svc"], TokenURL: srv.URL + "/oauth2/token", Scopes: []string{"read"}}
	tok, err := cc.Token(ctx)
	brokertest.Must(t, err)
	keySet := oidc.NewRemoteKeySet(ctx, srv.URL+"/oauth2/jwks")
	v := oidc.NewVerifier(srv.URL, keySet, &oidc.Config{ClientID: brokertest.RS1, SupportedSigningAlgs: []string{"ES256"}})
	at, err := v.Verify(ctx, tok.AccessToken)
	brokertest.Must(t, err)
	if at.Subject != "svc" {
		t.Fatalf("sub %q", at.Subject)
	}

	provider, err := oidc.NewProvider(ctx, srv.URL)
	brokertest.Must(t, err)
	conf := oauth2.Config{ClientID: "web1", ClientSecret: fx.Secrets["web1"], Endpoint: provider.Endpoint(), RedirectURL: "https://app1.test/cb"}
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	t1, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	brokertest.Must(t, err)
	raw, _ := t1.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: "web1", SupportedSigningAlgs: []string{"RS256"}}).Verify(ctx, raw)
	brokertest.Must(t, err)
	brokertest.Must(t, idt.VerifyAccessToken(t1.AccessToken))
	if idt.Subject != "alice" || idt.Nonce != "n-123" {
		t.Fatalf("id token %+v", idt)
	}
	t1.Expiry = t1.Expiry.Add(-24 * 3600 * 1e9) // force a refresh
	t2, err := conf.TokenSource(ctx, t1).Token()
	brokertest.Must(t, err)
	if t2.RefreshToken == t1.RefreshToken || t2.AccessToken == t1.AccessToken {
		t.Fatal("refresh did not rotate")
	}
}

// TestIDTokenAlgorithmPerClient: a relying party that never chose an algorithm
// (a go-oidc verifier without SupportedSigningAlgs accepts RS256 only) accepts our
// ID token (OIDC Core §3.1.3.7; id_token_signed_response_alg defaults to RS256,
// Dynamic Client Registration §2); a client registered for ES256 gets ES256, with
// at_hash of its algorithm. Discovery lists RS256 first, the JWKS carries both keys,
// and access tokens keep the server's algorithm.
func TestIDTokenAlgorithmPerClient(t *testing.T) {
	var fx *brokertest.OAuthFixture
	srv := httptest.NewTLSServer(brokertest.HTTPHandler(func() *brokertest.OAuthFixture { return fx }))
	defer srv.Close()
	fx = brokertest.NewOAuthFixture(t, map[string]string{"GATEHOUSE_ISSUER": srv.URL})
	ctx := oidc.ClientContext(context.Background(), srv.Client())
	es := store.Client{ID: "web-es", RedirectURIs: []string{"https://app1.test/cb"}, GrantTypes: []string{registry.GrantAuthorizationCode},
		Scopes: []string{"openid", "read"}, DefaultAudience: brokertest.RS1, TokenEndpointAuthMethod: registry.AuthSecretBasic,
		IDTokenSignedResponseAlg: "ES256"}
	secret, hash := registry.NewSecret()
	es.SecretHash, fx.Secrets[es.ID] = hash, secret
	brokertest.Must(t, registry.ValidateClient(es))
	brokertest.Must(t, fx.DB.Clients().Create(ctx, es))

	var meta struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	res, err := srv.Client().Get(srv.URL + "/.well-known/openid-configuration")
	brokertest.Must(t, err)
	brokertest.Must(t, json.NewDecoder(res.Body).Decode(&meta))
	res.Body.Close()
	if !slices.Equal(meta.Algs, []string{"RS256", "ES256"}) {
		t.Errorf("id_token_signing_alg_values_supported %v, want [RS256 ES256]", meta.Algs)
	}
	keySet := oidc.NewRemoteKeySet(ctx, srv.URL+"/oauth2/jwks")
	res, err = srv.Client().Get(srv.URL + "/oauth2/jwks")
	brokertest.Must(t, err)
	var set jose.JSONWebKeySet
	brokertest.Must(t, json.NewDecoder(res.Body).Decode(&set))
	res.Body.Close()
	var algs []string
	for _, k := range set.Keys {
		algs = append(algs, k.Algorithm)
	}
	if slices.Sort(algs); !slices.Equal(algs, []string{"ES256", "RS256"}) {
		t.Errorf("JWKS key algorithms %v, want one ES256 and one RS256", algs)
	}

	redeem := func(client string) (idToken, accessToken string) {
		t.Helper()
		code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: client, Redirect: "https://app1.test/cb"})
		r := fx.Exchange(t, "basic:"+client, code, verifier, "https://app1.test/cb", nil)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", client, r.Status, r.Raw)
		}
		return r.Str("id_token"), r.Str("access_token")
	}
	defaultRP := oidc.NewVerifier(srv.URL, keySet, &oidc.Config{ClientID: "web1"})
	raw, at := redeem("web1")
	idt, err := defaultRP.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("an RS256-only relying party refuses the ID token of a client with no registered alg: %v", err)
	}
	brokertest.Must(t, idt.VerifyAccessToken(at))
	if alg := header(t, at).Algorithm; alg != "ES256" {
		t.Errorf("access token alg %s, want the server's ES256", alg)
	}

	raw, at = redeem("web-es")
	if alg := header(t, raw).Algorithm; alg != "ES256" {
		t.Fatalf("ID token of a client registered for ES256 has alg %s", alg)
	}
	if _, err := oidc.NewVerifier(srv.URL, keySet, &oidc.Config{ClientID: "web-es"}).Verify(ctx, raw); err == nil {
		t.Error("an RS256-only verifier accepts an ES256 token: the check above proves nothing")
	}
	idt, err = oidc.NewVerifier(srv.URL, keySet, &oidc.Config{ClientID: "web-es", SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, raw)
	brokertest.Must(t, err)
	brokertest.Must(t, idt.VerifyAccessToken(at))
}

func header(t *testing.T, tok string) jose.Header {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	brokertest.Must(t, err)
	return jws.Signatures[0].Protected
}
