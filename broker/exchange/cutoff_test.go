package exchange_test

import (
	"context"
	"net/url"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestExchangeCutOff is the cut-off rule: a token from exchange is ended, through
// the revocation list introspection consults, by what ends the token it came
// from, and by its own revocation; ending a browser session of the person does
// not end a token exchanged from an upstream token, which never had it.
func TestExchangeCutOff(t *testing.T) {
	admin := operations.Actor{Name: "admin"}
	ctx := context.Background()
	upstreamToken := func(fx *fixture) string {
		at, _ := fx.ok(fx.exchange("cli", fx.idToken(nil), typeID, "scope", "read"))
		if !fx.active("svc1", at) {
			fx.t.Fatal("inactive from the start")
		}
		return at
	}
	localToken := func(fx *fixture) string {
		at, _ := fx.ok(fx.exchange("svc1", fx.userToken("web1", rs1, "read"), typeAT, "audience", rs2))
		if !fx.active("svc2", at) {
			fx.t.Fatal("inactive from the start")
		}
		return at
	}
	for name, tc := range map[string]struct {
		local  bool
		end    func(fx *fixture)
		active bool
	}{
		"upstream: provider disabled": {end: func(fx *fixture) {
			_, err := fx.ops().DisableProvider(ctx, admin, operations.ProviderRef{ID: "corp"})
			brokertest.Must(fx.t, err)
		}},
		"upstream: provider removed": {end: func(fx *fixture) {
			_, err := fx.ops().RemoveProvider(ctx, admin, operations.ProviderRef{ID: "corp"})
			brokertest.Must(fx.t, err)
		}},
		"upstream: user disabled": {end: func(fx *fixture) {
			_, err := fx.ops().DisableUser(ctx, admin, "alice")
			brokertest.Must(fx.t, err)
		}},
		"upstream: user signed out by an admin": {end: func(fx *fixture) {
			_, err := fx.ops().SignOutUser(ctx, admin, "alice")
			brokertest.Must(fx.t, err)
		}},
		"upstream: revoked by its client": {end: func(fx *fixture) {}},
		"upstream: the person's browser session ends": {active: true, end: func(fx *fixture) {
			fx.userToken("web1", rs1, "read") // creates alice's session sess-a
			_, err := revoke.Sessions(ctx, fx.DB, []string{"sess-a"}, fx.Clk.Now(), fx.Cfg.AccessTokenTTL)
			brokertest.Must(fx.t, err)
		}},
		"local: the subject token's session ends": {local: true, end: func(fx *fixture) {
			_, err := revoke.Sessions(ctx, fx.DB, []string{"sess-a"}, fx.Clk.Now(), fx.Cfg.AccessTokenTTL)
			brokertest.Must(fx.t, err)
		}},
		"local: the subject token's grant is revoked": {local: true, end: func(fx *fixture) {
			brokertest.Must(fx.t, revoke.Grant(ctx, fx.DB, "grant-a", fx.Clk.Now(), fx.Clk.Now().Add(fx.Cfg.AccessTokenTTL)))
		}},
		"local: user disabled": {local: true, end: func(fx *fixture) {
			_, err := fx.ops().DisableUser(ctx, admin, "alice")
			brokertest.Must(fx.t, err)
		}},
		"local: provider of the session disabled": {local: true, end: func(fx *fixture) {
			_, err := fx.ops().DisableProvider(ctx, admin, operations.ProviderRef{ID: "corp"})
			brokertest.Must(fx.t, err)
		}},
	} {
		t.Run(name, func(t *testing.T) {
			fx := newFixture(t)
			var at, rs, client string
			if tc.local {
				at, rs, client = localToken(fx), "svc2", "svc1"
			} else {
				at, rs, client = upstreamToken(fx), "svc1", "cli"
			}
			tc.end(fx)
			if name == "upstream: revoked by its client" {
				if r := fx.call(client, "/oauth2/revoke", url.Values{"token": {at}}); r.Status != 200 {
					t.Fatalf("revoke: %d %s", r.Status, r.Raw)
				}
			}
			if got := fx.active(rs, at); got != tc.active {
				t.Fatalf("active = %v, want %v", got, tc.active)
			}
		})
	}
}

// TestExchangeOAuth2Client: golang.org/x/oauth2 as the client, its
// clientcredentials.Config with EndpointParams overriding grant_type.
func TestExchangeOAuth2Client(t *testing.T) {
	fx := newFixture(t)
	cfg := clientcredentials.Config{ClientID: "cli", ClientSecret: fx.secrets["cli"], TokenURL: fx.TS.URL + "/oauth2/token",
		Scopes: []string{"read"}, AuthStyle: oauth2.AuthStyleInHeader,
		EndpointParams: url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token": {fx.idToken(nil)}, "subject_token_type": {typeID}, "audience": {rs2}}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, fx.TS.Client())
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken != "" || tok.Extra("issued_token_type") != typeAT || tok.Expiry.IsZero() {
		t.Fatalf("token %+v", tok)
	}
	cl := decode(t, tok.AccessToken)
	if cl.Subject != "alice" || cl.Scope != "read" || len(cl.Audience) != 1 || cl.Audience[0] != rs2 {
		t.Fatalf("claims %+v", cl)
	}
}

// TestExchangeDiscovery: discovery lists the grant type.
func TestExchangeDiscovery(t *testing.T) {
	fx := newFixture(t)
	res, err := fx.TS.Client().Get(fx.TS.URL + "/.well-known/openid-configuration")
	brokertest.Must(t, err)
	defer res.Body.Close()
	var doc struct {
		GrantTypes []string `json:"grant_types_supported"`
	}
	brokertest.Must(t, jsonDecode(res.Body, &doc))
	found := false
	for _, g := range doc.GrantTypes {
		found = found || g == "urn:ietf:params:oauth:grant-type:token-exchange"
	}
	if !found {
		t.Fatalf("grant types %v", doc.GrantTypes)
	}
}

// TestExchangeUpstreamUnavailable: an OIDC provider that cannot be reached for
// its keys is the sign-in outage's 503, temporarily_unavailable, not a refusal.
func TestExchangeUpstreamUnavailable(t *testing.T) {
	fx := newFixture(t)
	tok := fx.idToken(nil)
	fx.corp.Close()
	r := fx.exchange("cli", tok, typeID)
	r.WantError(t, 503, "temporarily_unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if fx.exchanged() != 0 {
		t.Fatal("issued")
	}
}
