package token

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

const testIssuer = "https://id.example.com"

// TestNewAccess: the claims every grant's access token is built with. A user token
// with openid is also for UserInfo (the issuer joins aud); a client's own token has
// the client as sub; an exchanged token carries its act and upstream provider.
func TestNewAccess(t *testing.T) {
	now := time.Unix(1772366400, 0)
	auth := now.Add(-time.Minute)
	for _, tc := range []struct {
		name string
		g    AccessGrant
		want AccessClaims // without jti
	}{
		{"client credentials", AccessGrant{ClientID: "svc", Audience: "https://api.test", Scopes: []string{"read", "write"}},
			AccessClaims{Subject: "svc", Audience: Audience{"https://api.test"}, ClientID: "svc", Scope: "read write"}},
		{"client credentials with openid", AccessGrant{ClientID: "svc", Audience: "https://api.test", Scopes: []string{"openid"}},
			AccessClaims{Subject: "svc", Audience: Audience{"https://api.test"}, ClientID: "svc", Scope: "openid"}},
		{"user with openid", AccessGrant{ClientID: "web", Subject: "u1", Audience: "https://api.test", Scopes: []string{"openid", "read"},
			GrantID: "g1", SessionID: "s1", AuthTime: auth, ACR: "urn:mfa", AMR: []string{"pwd", "otp"}},
			AccessClaims{Subject: "u1", Audience: Audience{"https://api.test", testIssuer}, ClientID: "web", Scope: "openid read",
				GrantID: "g1", SessionID: "s1", AuthTime: auth.Unix(), ACR: "urn:mfa", AMR: []string{"pwd", "otp"}}},
		{"user, UserInfo only", AccessGrant{ClientID: "web", Subject: "u1", Scopes: []string{"openid"}, GrantID: "g1"},
			AccessClaims{Subject: "u1", Audience: Audience{testIssuer}, ClientID: "web", Scope: "openid", GrantID: "g1"}},
		{"exchanged", AccessGrant{ClientID: "svc2", Subject: "u1", Audience: "https://api2.test", Scopes: []string{"read"},
			GrantID: "g2", Act: &Actor{Subject: "svc2", Act: &Actor{Subject: "svc1"}}, Provider: "corp"},
			AccessClaims{Subject: "u1", Audience: Audience{"https://api2.test"}, ClientID: "svc2", Scope: "read", GrantID: "g2",
				Act: &Actor{Subject: "svc2", Act: &Actor{Subject: "svc1"}}, Provider: "corp"}},
	} {
		got := NewAccess(testIssuer, tc.g, now, 5*time.Minute)
		if len(got.ID) != 22 {
			t.Errorf("%s: jti %q is not a 128-bit random ID", tc.name, got.ID)
		}
		want := tc.want
		want.Issuer, want.IssuedAt, want.Expiry, want.ID = testIssuer, now.Unix(), now.Add(5*time.Minute).Unix(), got.ID
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, *got, want)
		}
	}
	if a, b := NewAccess(testIssuer, AccessGrant{ClientID: "svc"}, now, time.Minute), NewAccess(testIssuer, AccessGrant{ClientID: "svc"}, now, time.Minute); a.ID == b.ID {
		t.Error("two tokens share a jti")
	}
}

func TestAccessTTL(t *testing.T) {
	const server = 10 * time.Minute
	for _, tc := range []struct{ client, want time.Duration }{
		{0, server}, {5 * time.Minute, 5 * time.Minute}, {server, server}, {time.Hour, server},
	} {
		if got := AccessTTL(&store.Client{AccessTokenTTL: tc.client}, server); got != tc.want {
			t.Errorf("client %v: %v, want %v", tc.client, got, tc.want)
		}
	}
}

// TestActorDepth: the length of an RFC 8693 §4.1 delegation chain.
func TestActorDepth(t *testing.T) {
	var none *Actor
	for _, tc := range []struct {
		a    *Actor
		want int
	}{
		{none, 0},
		{&Actor{Subject: "svc1"}, 1},
		{&Actor{Subject: "svc2", Act: &Actor{Subject: "svc1"}}, 2},
		{&Actor{Subject: "svc3", Act: &Actor{Subject: "svc2", Act: &Actor{Subject: "svc1"}}}, 3},
	} {
		if got := tc.a.Depth(); got != tc.want {
			t.Errorf("%+v: depth %d, want %d", tc.a, got, tc.want)
		}
	}
}

// TestRevocationKeysProvider: a token exchanged from an upstream provider's token
// is revoked by that provider's entry; other tokens are not.
func TestRevocationKeysProvider(t *testing.T) {
	exchanged := AccessClaims{ID: "j1", ClientID: "svc", Subject: "u1", GrantID: "g1", Provider: "corp"}
	if !slices.Contains(exchanged.RevocationKeys(), "provider:corp") || ProviderRevocationKey("corp") != "provider:corp" {
		t.Errorf("exchanged token keys %v lack provider:corp", exchanged.RevocationKeys())
	}
	plain := AccessClaims{ID: "j2", ClientID: "web", Subject: "u1", GrantID: "g2", SessionID: "s1"}
	for _, k := range plain.RevocationKeys() {
		if strings.HasPrefix(k, "provider:") {
			t.Errorf("a token without a provider has key %q", k)
		}
	}
}

// TestRevocationKeysDelegation: a token issued under a delegation is revoked by
// that delegation's entry; other tokens are not.
func TestRevocationKeysDelegation(t *testing.T) {
	delegated := AccessClaims{ID: "j1", ClientID: "ward", Subject: "u1", GrantID: "g1", Act: &Actor{Subject: "u2"},
		DelegationID: "dlg1"}
	if !slices.Contains(delegated.RevocationKeys(), "delegation:dlg1") || DelegationRevocationKey("dlg1") != "delegation:dlg1" {
		t.Errorf("delegated token keys %v lack delegation:dlg1", delegated.RevocationKeys())
	}
	plain := AccessClaims{ID: "j2", ClientID: "web", Subject: "u1", GrantID: "g2", SessionID: "s1"}
	for _, k := range plain.RevocationKeys() {
		if strings.HasPrefix(k, "delegation:") {
			t.Errorf("a token without a delegation has key %q", k)
		}
	}
}

// TestRevocationKeysDelegationActor: a token acting under a delegation is also
// revoked by its actor's consent revocation for the client (the delegate's
// user-client entry), besides the grantor's.
func TestRevocationKeysDelegationActor(t *testing.T) {
	delegated := AccessClaims{ID: "j1", ClientID: "ward", Subject: "u1", GrantID: "g1", Act: &Actor{Subject: "u2"},
		DelegationID: "dlg1"}
	keys := delegated.RevocationKeys()
	if !slices.Contains(keys, UserClientKey("u2", "ward")) || !slices.Contains(keys, UserClientKey("u1", "ward")) {
		t.Errorf("delegated token keys %v lack the actor's or the subject's user-client key", keys)
	}
	exchanged := AccessClaims{ID: "j2", ClientID: "svc", Subject: "u1", GrantID: "g2", Act: &Actor{Subject: "svc"}}
	if slices.Contains(exchanged.RevocationKeys(), UserClientKey("svc", "svc")) {
		t.Error("an exchanged token without a delegation has its actor's user-client key")
	}
}
