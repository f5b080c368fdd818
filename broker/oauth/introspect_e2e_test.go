package oauth_test

import (
	"context"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/oauth"
	"github.com/gatehouse/gatehouse/broker/token"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestASINT01_IntrospectionOnlyForOwnClientOrResourceServer: being allowed to ask
// for tokens for an API does not let a client introspect other clients' tokens
// for it (RFC 7662 §2.2, §4). Only the token's own client and the client
// registered as the resource server of an API in its aud learn it is active;
// every other caller gets exactly {"active":false}. Refresh tokens: their own
// client only.
func TestASINT01_IntrospectionOnlyForOwnClientOrResourceServer(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	code, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: "https://app1.test/cb"})
	o := fx.Exchange(t, "basic:web1", code, verifier, "https://app1.test/cb", nil)
	if o.Status != 200 || o.Str("refresh_token") == "" {
		t.Fatalf("redeem: %d %s", o.Status, o.Raw)
	}
	at, rt := o.Str("access_token"), o.Str("refresh_token") // web1's, aud brokertest.RS1 and the issuer
	svcAT := fx.Call(t, "/oauth2/token", "basic:svc", url.Values{"grant_type": {"client_credentials"}}).Str("access_token")
	ask := func(caller, tok string) brokertest.Result {
		t.Helper()
		if caller == "jwt1" {
			v := url.Values{"token": {tok}, "client_assertion_type": {oauth.AssertionType}, "client_assertion": {fx.Assertion(t, func(_, c map[string]any) {
				c["aud"] = "https://gatehouse.test/oauth2/introspect"
			})}}
			return fx.Call(t, "/oauth2/introspect", "", v)
		}
		if caller == "web2" { // client_secret_post
			return fx.Call(t, "/oauth2/introspect", "", url.Values{"token": {tok}, "client_id": {"web2"}, "client_secret": {fx.Secrets["web2"]}})
		}
		return fx.Call(t, "/oauth2/introspect", "basic:"+caller, url.Values{"token": {tok}})
	}
	for _, tc := range []struct {
		name, caller, tok string
		active            bool
	}{
		{"own client", "web1", at, true},
		{"registered resource server", "rs1", at, true},
		{"registered resource server, client_credentials token", "rs1", svcAT, true},
		{"own client, client_credentials token", "svc", svcAT, true},
		// Each of these may ask for tokens for brokertest.RS1 (default API), or for brokertest.RS2.
		{"app client with the API as default audience", "web2", at, false},
		{"service client with the API as default audience", "svc", at, false},
		{"app client, another app's client_credentials token", "web1", svcAT, false},
		{"private_key_jwt client with the API as default audience", "jwt1", at, false},
		{"resource server of another API", "rs2", at, false},
		{"refresh token, resource server", "rs1", rt, false},
		{"refresh token, another app", "web2", rt, false},
		{"refresh token, own client", "web1", rt, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ask(tc.caller, tc.tok)
			if o.Status != 200 {
				t.Fatalf("%d %s", o.Status, o.Raw)
			}
			if tc.active && (o.Body["active"] != true || o.Str("client_id") == "") {
				t.Fatalf("want active, got %s", o.Raw)
			}
			if !tc.active && o.Raw != `{"active":false}` {
				t.Fatalf(`want exactly {"active":false}, got %s`, o.Raw)
			}
		})
	}
}

// TestIntrospectionShowsAct: an active token with an RFC 8693 §4.1 act claim is
// introspected with it, as the JSON object, the prior actors nested; a token
// without one has no act.
func TestIntrospectionShowsAct(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	now := time.Now()
	sign := func(act *token.Actor) string {
		t.Helper()
		cl := token.NewAccess("https://gatehouse.test", token.AccessGrant{ClientID: "svc", Subject: "u1", Audience: brokertest.RS1,
			Scopes: []string{"read"}, GrantID: "g1", Act: act}, now, time.Minute)
		tok, err := fx.KM.Sign(context.Background(), cl, token.TypeAccess)
		brokertest.Must(t, err)
		return tok
	}
	o := fx.Call(t, "/oauth2/introspect", "basic:svc", url.Values{"token": {sign(&token.Actor{Subject: "svc",
		Act: &token.Actor{Subject: "web1", Issuer: "https://gatehouse.test"}})}})
	want := map[string]any{"sub": "svc", "act": map[string]any{"sub": "web1", "iss": "https://gatehouse.test"}}
	if o.Status != 200 || o.Body["active"] != true || !reflect.DeepEqual(o.Body["act"], want) {
		t.Fatalf("introspection of a token with act: %d %s", o.Status, o.Raw)
	}
	o = fx.Call(t, "/oauth2/introspect", "basic:svc", url.Values{"token": {sign(nil)}})
	if _, has := o.Body["act"]; o.Body["active"] != true || has {
		t.Fatalf("introspection of a token without act: %d %s", o.Status, o.Raw)
	}
}
