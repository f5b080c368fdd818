package registry

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

func TestValidateClient(t *testing.T) {
	_, hash := NewSecret()
	web := store.Client{ID: "web1", GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken},
		RedirectURIs: []string{"https://app1.test/cb"}, TokenEndpointAuthMethod: AuthSecretBasic, SecretHash: hash,
		Scopes: []string{"openid", "read"}}
	if err := ValidateClient(web); err != nil {
		t.Fatalf("valid client refused: %v", err)
	}
	for _, ok := range []store.Client{
		{ID: "m1", GrantTypes: []string{GrantClientCredentials}, TokenEndpointAuthMethod: AuthTLSClient,
			TLSClientAuthSubjectDN: "CN=m1,O=Example"},
		{ID: "m2", GrantTypes: []string{GrantClientCredentials}, TokenEndpointAuthMethod: AuthTLSClient, TLSClientAuthSANIP: "::1"},
		{ID: "m3", GrantTypes: []string{GrantClientCredentials}, TokenEndpointAuthMethod: AuthSelfSignedTLSClient,
			JWKSURI: "https://m3.test/jwks"},
	} {
		if err := ValidateClient(ok); err != nil {
			t.Errorf("valid mTLS client %s refused: %v", ok.ID, err)
		}
	}
	for name, mutate := range map[string]func(c *store.Client){
		"no grant types":          func(c *store.Client) { c.GrantTypes = nil },
		"unknown grant":           func(c *store.Client) { c.GrantTypes = append(c.GrantTypes, "password") },
		"refresh without code":    func(c *store.Client) { c.GrantTypes = []string{GrantRefreshToken} },
		"code without redirect":   func(c *store.Client) { c.RedirectURIs = nil },
		"bad redirect":            func(c *store.Client) { c.RedirectURIs = []string{"https://app1.test/cb#x"} },
		"public with secret auth": func(c *store.Client) { c.Public = true },
		"confidential with none":  func(c *store.Client) { c.TokenEndpointAuthMethod = AuthNone },
		"secret auth, no secret":  func(c *store.Client) { c.SecretHash = nil },
		"public cc": func(c *store.Client) {
			c.Public, c.TokenEndpointAuthMethod, c.GrantTypes = true, AuthNone, []string{GrantClientCredentials}
		},
		"pkjwt without keys": func(c *store.Client) { c.TokenEndpointAuthMethod = AuthPrivateKeyJWT },
		"private JWKS": func(c *store.Client) {
			c.TokenEndpointAuthMethod = AuthPrivateKeyJWT
			c.JWKS = []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)
		},
		"http home page":       func(c *store.Client) { c.ClientURI = "http://app1.test/" },
		"javascript home page": func(c *store.Client) { c.ClientURI = "javascript:alert(1)" },
		"http JWKS URI": func(c *store.Client) {
			c.TokenEndpointAuthMethod, c.JWKSURI = AuthPrivateKeyJWT, "http://keys.test/jwks"
		},
		"bad scope":    func(c *store.Client) { c.Scopes = []string{"a b"} },
		"bad id":       func(c *store.Client) { c.ID = "a:b" },
		"negative ttl": func(c *store.Client) { c.AccessTokenTTL = -1 },
		"public resource server": func(c *store.Client) {
			c.Public, c.TokenEndpointAuthMethod, c.ResourceServerFor = true, AuthNone, []string{"https://api1.test"}
		},
		// RFC 8705 §2.1.2: exactly one well-formed subject, for tls_client_auth only.
		"tls_client_auth without subject": func(c *store.Client) { c.TokenEndpointAuthMethod = AuthTLSClient },
		"tls_client_auth with two subjects": func(c *store.Client) {
			c.TokenEndpointAuthMethod, c.TLSClientAuthSubjectDN, c.TLSClientAuthSANDNS = AuthTLSClient, "CN=app", "app.test"
		},
		"tls_client_auth bad DN": func(c *store.Client) {
			c.TokenEndpointAuthMethod, c.TLSClientAuthSubjectDN = AuthTLSClient, "app"
		},
		"tls_client_auth bad IP": func(c *store.Client) {
			c.TokenEndpointAuthMethod, c.TLSClientAuthSANIP = AuthTLSClient, "app.test"
		},
		"subject for another method": func(c *store.Client) { c.TLSClientAuthSANDNS = "app.test" },
		"public tls_client_auth": func(c *store.Client) {
			c.Public, c.TokenEndpointAuthMethod, c.TLSClientAuthSANDNS = true, AuthTLSClient, "app.test"
		},
		"self-signed without keys": func(c *store.Client) { c.TokenEndpointAuthMethod = AuthSelfSignedTLSClient },
	} {
		c := web
		c.GrantTypes = append([]string(nil), web.GrantTypes...)
		mutate(&c)
		if err := ValidateClient(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// fakeAPIs holds APIs by audience; only GetByAudience is used.
type fakeAPIs struct {
	store.APIs
	audiences []string
}

func (f fakeAPIs) GetByAudience(_ context.Context, aud string) (store.API, error) {
	if slices.Contains(f.audiences, aud) {
		return store.API{Audience: aud}, nil
	}
	return store.API{}, store.ErrNotFound
}

func TestValidateResourceServerFor(t *testing.T) {
	apis := fakeAPIs{audiences: []string{"https://api1.test", "https://api2.test"}}
	for _, tc := range []struct {
		rs   []string
		want string // "" for valid
	}{
		{nil, ""},
		{[]string{"https://api1.test", "https://api2.test"}, ""},
		{[]string{"https://api3.test"}, `"https://api3.test": no API`},
		{[]string{"https://api1.test", "https://api1.test"}, "listed twice"},
	} {
		err := ValidateResourceServerFor(t.Context(), apis, store.Client{ID: "rs", ResourceServerFor: tc.rs})
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.rs, err, tc.want)
		}
	}
}

func TestValidateAPI(t *testing.T) {
	ok := store.API{ID: "rs1", Audience: "https://api1.test", Name: "API 1", Scopes: []store.Scope{{Name: "read"}}}
	if err := ValidateAPI(ok); err != nil {
		t.Fatal(err)
	}
	for _, a := range []store.API{
		{Audience: "api1", Name: "x"},
		{Audience: "https://api1.test#f", Name: "x"},
		{Audience: "https://api1.test"},
		{Audience: "https://api1.test", Name: "x", Scopes: []store.Scope{{Name: "a"}, {Name: "a"}}},
		{Audience: "https://api1.test", Name: "x", Scopes: []store.Scope{{Name: "a\"b"}}},
	} {
		if ValidateAPI(a) == nil {
			t.Errorf("%+v accepted", a)
		}
	}
}

// TestValidateAPIDelegationPolicy: delegable scopes are the API's, and a policy
// that allows delegation says for how long (at most a year) and what.
func TestValidateAPIDelegationPolicy(t *testing.T) {
	api := func(d store.DelegationPolicy) store.API {
		return store.API{Audience: "https://api1.test", Name: "API 1",
			Scopes: []store.Scope{{Name: "read"}, {Name: "write"}}, Delegation: d}
	}
	for _, d := range []store.DelegationPolicy{
		{},
		{Allowed: true, MaxDuration: 168 * time.Hour, Scopes: []string{"read"}},
		{Allowed: true, MaxDuration: MaxDelegationDuration, Scopes: []string{"read", "write"}, Redelegation: true},
		{MaxDuration: time.Hour, Scopes: []string{"write"}}, // kept while not allowed
	} {
		if err := ValidateAPI(api(d)); err != nil {
			t.Errorf("%+v refused: %v", d, err)
		}
	}
	for _, d := range []store.DelegationPolicy{
		{Allowed: true, MaxDuration: time.Hour, Scopes: []string{"admin"}},
		{MaxDuration: time.Hour, Scopes: []string{"admin"}},
		{Allowed: true, MaxDuration: time.Hour, Scopes: []string{"read", "read"}},
		{Allowed: true, Scopes: []string{"read"}},
		{Allowed: true, MaxDuration: MaxDelegationDuration + time.Hour, Scopes: []string{"read"}},
		{Allowed: true, MaxDuration: -time.Hour, Scopes: []string{"read"}},
		{Allowed: true, MaxDuration: time.Hour},
	} {
		if ValidateAPI(api(d)) == nil {
			t.Errorf("%+v accepted", d)
		}
	}
}

// TestValidateClientExchange: the token-exchange grant (RFC 8693) is for
// confidential clients (§2.1: the client authenticates; SECURITY.md AS-TX-09) that
// say which subject token types they present; provider lists need an upstream type.
func TestValidateClientExchange(t *testing.T) {
	_, hash := NewSecret()
	svc := store.Client{ID: "svc", GrantTypes: []string{GrantClientCredentials, GrantTokenExchange},
		TokenEndpointAuthMethod: AuthSecretBasic, SecretHash: hash,
		ExchangeTokenTypes: []string{TokenTypeAccessToken, TokenTypeIDToken, TokenTypeSAML2},
		ExchangeProviders:  []string{"corp"}}
	if err := ValidateClient(svc); err != nil {
		t.Fatalf("valid exchange client refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(c *store.Client)
		want   string
	}{
		{"public", func(c *store.Client) {
			c.Public, c.TokenEndpointAuthMethod, c.SecretHash, c.GrantTypes = true, AuthNone, nil, []string{GrantTokenExchange}
		}, "a public client cannot use token exchange"},
		{"no types", func(c *store.Client) { c.ExchangeTokenTypes, c.ExchangeProviders = nil, nil },
			"at least one exchange subject token type"},
		{"unknown type", func(c *store.Client) {
			c.ExchangeTokenTypes = []string{TokenTypeIDToken, "urn:ietf:params:oauth:token-type:jwt"}
		}, `exchange token type "urn:ietf:params:oauth:token-type:jwt" is not one of`},
		{"short name", func(c *store.Client) { c.ExchangeTokenTypes = []string{"id_token"} }, `"id_token" is not one of`},
		{"twice", func(c *store.Client) { c.ExchangeTokenTypes = []string{TokenTypeSAML2, TokenTypeSAML2} }, "listed twice"},
		{"providers without upstream type", func(c *store.Client) { c.ExchangeTokenTypes = []string{TokenTypeAccessToken} },
			"exchange providers need the id_token or saml2 exchange token type"},
		{"types without grant", func(c *store.Client) { c.GrantTypes, c.ExchangeProviders = []string{GrantClientCredentials}, nil },
			"need the " + GrantTokenExchange + " grant"},
		{"providers without grant", func(c *store.Client) { c.GrantTypes, c.ExchangeTokenTypes = []string{GrantClientCredentials}, nil },
			"need the " + GrantTokenExchange + " grant"},
	} {
		c := svc
		c.GrantTypes, c.ExchangeTokenTypes = slices.Clone(svc.GrantTypes), slices.Clone(svc.ExchangeTokenTypes)
		tc.mutate(&c)
		if err := ValidateClient(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// Access tokens alone, no providers: a service trading Gatehouse tokens only.
	local := svc
	local.ExchangeTokenTypes, local.ExchangeProviders = []string{TokenTypeAccessToken}, nil
	if err := ValidateClient(local); err != nil {
		t.Errorf("local-only exchange client refused: %v", err)
	}
}

// fakeProviders holds provider IDs; only Get is used.
type fakeProviders struct {
	store.Providers
	ids []string
}

func (f fakeProviders) Get(_ context.Context, id string) (store.ProviderConfig, error) {
	if slices.Contains(f.ids, id) {
		return store.ProviderConfig{ID: id}, nil
	}
	return store.ProviderConfig{}, store.ErrNotFound
}

func TestValidateExchangeProviders(t *testing.T) {
	ps := fakeProviders{ids: []string{"corp", "partner"}}
	for _, tc := range []struct {
		ids  []string
		want string // "" for valid
	}{
		{nil, ""},
		{[]string{"corp", "partner"}, ""},
		{[]string{"gone"}, `exchange provider "gone": no provider`},
		{[]string{"corp", "corp"}, "listed twice"},
	} {
		err := ValidateExchangeProviders(t.Context(), ps, store.Client{ID: "svc", ExchangeProviders: tc.ids})
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.ids, err, tc.want)
		}
	}
}

// TestGrantTypesListTokenExchange: clients may register the exchange grant, and
// discovery (built from GrantTypes) lists it.
func TestGrantTypesListTokenExchange(t *testing.T) {
	if !slices.Contains(GrantTypes, GrantTokenExchange) {
		t.Errorf("GrantTypes %v lacks %s", GrantTypes, GrantTokenExchange)
	}
}
