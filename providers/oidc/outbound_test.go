package oidc

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/providers/safehttp"
)

// RFC 6749 §5.1 makes token_type required and §7.1 says a client must not use
// an access token whose type it does not understand; OIDC Core §3.1.3.3 says it
// is Bearer. Anything else is an invalid response, compared case-insensitively.
func TestTokenTypeMustBeBearer(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(k *providertest.Knobs)
		ok   bool
	}{
		{"Bearer", func(k *providertest.Knobs) {}, true},
		{"bearer", func(k *providertest.Knobs) { k.TokenType = "bearer" }, true},
		{"BEARER", func(k *providertest.Knobs) { k.TokenType = "BEARER" }, true},
		{"mac", func(k *providertest.Knobs) { k.TokenType = "mac" }, false},
		{"DPoP", func(k *providertest.Knobs) { k.TokenType = "DPoP" }, false},
		{"N_A", func(k *providertest.Knobs) { k.TokenType = "N_A" }, false},
		{"Bearer with space", func(k *providertest.Knobs) { k.TokenType = "Bearer " }, false},
		{"missing", func(k *providertest.Knobs) { k.OmitTokenType = true }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, keys()[:1])
			e.iss.Set(tc.set)
			id, err := e.login(t)
			if tc.ok {
				if err != nil || id.Subject != "alice" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
}

// Every call to the OP goes through the bounded client: an OP that sends its
// headers and then trickles the body fails the sign-in instead of holding it.
// The bound is lowered to 300 ms here; the production one is
// safehttp.DefaultTimeout (10 s), asserted in safehttp's tests.
func TestOutboundCallsBounded(t *testing.T) {
	short := func(_ *providertest.OIDCOptions, c *Config) {
		c.UserinfoMerge = true
		c.HTTPClient = safehttp.NewClient(safehttp.Options{AllowLoopback: true, Timeout: 300 * time.Millisecond})
	}
	for _, path := range []string{"/.well-known/openid-configuration", "/jwks", "/token", "/userinfo"} {
		t.Run(path, func(t *testing.T) {
			e := newEnv(t, keys()[:1], short)
			if path != "/.well-known/openid-configuration" {
				// Discover while the OP behaves; the trickled call comes later.
				if _, err := e.p.Begin(context.Background(), providers.BeginParams{CallbackURL: callbackURL}); err != nil {
					t.Fatal(err)
				}
			}
			e.iss.Set(func(k *providertest.Knobs) { k.TricklePath = path })
			if path == "/.well-known/openid-configuration" {
				_, err := e.p.Begin(context.Background(), providers.BeginParams{CallbackURL: callbackURL})
				if err == nil {
					t.Fatal("discovery with a trickled body succeeded")
				}
				t.Logf("refused: %v", err)
				return
			}
			r, pending := e.authorize(t)
			id, err := e.p.Complete(context.Background(), r, pending)
			if err == nil {
				t.Fatalf("sign-in with a trickled %s succeeded: %+v", path, id)
			}
			t.Logf("refused: %v", err)
			if id.Subject != "" {
				t.Fatalf("identity returned with error: %+v", id)
			}
		})
	}
}

func TestConfigClientTimeoutBounded(t *testing.T) {
	for _, c := range []*http.Client{{}, {Timeout: time.Minute}} {
		err := Config{ID: "op", Issuer: "https://op.example", ClientID: "c", HTTPClient: c}.Validate()
		if err == nil || !strings.Contains(err.Error(), "Timeout of at most 10s") {
			t.Errorf("client timeout %v: Validate() = %v", c.Timeout, err)
		}
	}
}

// The issuer is checked against the allowed networks when the provider is
// configured, before any call: loopback, private and plain http are refused
// unless GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS lists them, and the refusal says so.
func TestADM07_IssuerAllowedNetworks(t *testing.T) {
	for _, tc := range []struct {
		issuer, list string
		ok           bool
	}{
		{"https://op.example", "", true},
		{"http://127.0.0.1:9000", "", false},
		{"http://127.0.0.1:9000", "10.0.0.0/8", false},
		{"http://127.0.0.1:9000", "127.0.0.1", true},
		{"https://10.1.2.3", "", false},
		{"https://10.1.2.3", "10.0.0.0/8", true},
		{"http://10.1.2.3", "10.0.0.0/8", false},
		{"https://169.254.169.254", "0.0.0.0/0", false},
		{"https://metadata.google.internal", "0.0.0.0/0", false},
	} {
		err := Config{ID: "op", Issuer: tc.issuer, ClientID: "c", Networks: safehttp.MustParseNetworks(tc.list)}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("issuer %s, list %q: %v, want ok=%v", tc.issuer, tc.list, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), safehttp.AllowedNetworksSetting) {
			t.Errorf("issuer %s: refusal %q does not name %s", tc.issuer, err, safehttp.AllowedNetworksSetting)
		}
	}
}
