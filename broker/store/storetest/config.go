package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

func newProvider(id string) store.ProviderConfig {
	return store.ProviderConfig{
		ID:                id,
		Kind:              "oidc",
		Name:              "Provider " + id,
		Domains:           []string{"example.com", "example.org"},
		Enabled:           true,
		TrustEmailLinking: true,
		Settings:          []byte(`{"issuer":"https://idp.example.com"}`),
		SecretsEnc:        []byte{0, 1, 2, 0xff},
		Version:           1,
		CreatedAt:         at(0),
		UpdatedAt:         at(time.Second),
	}
}

func testProviders(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		s := open(t)
		p := newProvider("p1")
		p.Version = 7 // Create stores version 1 whatever it is given
		must(t, "Create", s.Providers().Create(t.Context(), p))
		got, err := s.Providers().Get(t.Context(), "p1")
		must(t, "Get", err)
		p.Version = 1
		same(t, "provider", got, p)
	})
	t.Run("EmptyFields", func(t *testing.T) {
		s := open(t)
		p := store.ProviderConfig{ID: "p1", Kind: "saml", Domains: []string{}, Settings: []byte{}, Version: 1}
		must(t, "Create", s.Providers().Create(t.Context(), p))
		got, err := s.Providers().Get(t.Context(), "p1")
		must(t, "Get", err)
		p.Domains, p.Settings = nil, nil // empty reads back as nil
		same(t, "provider", got, p)
	})
	t.Run("CreateTaken", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.Providers().Create(t.Context(), newProvider("p1")))
		wantErr(t, "Create again", s.Providers().Create(t.Context(), newProvider("p1")), store.ErrConflict)
	})
	t.Run("GetMissing", func(t *testing.T) {
		_, err := open(t).Providers().Get(t.Context(), "p1")
		wantErr(t, "Get", err, store.ErrNotFound)
	})
	t.Run("List", func(t *testing.T) {
		s := open(t)
		got, err := s.Providers().List(t.Context())
		must(t, "List", err)
		same(t, "empty list", got, nil)
		b, a := newProvider("b"), newProvider("a")
		must(t, "Create", s.Providers().Create(t.Context(), b))
		must(t, "Create", s.Providers().Create(t.Context(), a))
		got, err = s.Providers().List(t.Context())
		must(t, "List", err)
		same(t, "providers", got, []store.ProviderConfig{a, b})
	})
	t.Run("Update", func(t *testing.T) {
		s := open(t)
		p := newProvider("p1")
		must(t, "Create", s.Providers().Create(t.Context(), p))
		for v := int64(1); v <= 3; v++ {
			p.Version = v
			p.Name, p.Kind, p.Domains, p.Enabled, p.TrustEmailLinking = "Renamed", "saml", []string{"new.example"}, false, false
			p.Settings, p.SecretsEnc, p.UpdatedAt = []byte(`{"v":2}`), []byte{9}, at(time.Duration(v)*time.Hour)
			changed := p
			changed.CreatedAt = at(-time.Hour) // Update keeps CreatedAt
			must(t, "Update", s.Providers().Update(t.Context(), changed))
			got, err := s.Providers().Get(t.Context(), "p1")
			must(t, "Get", err)
			p.Version = v + 1
			same(t, "provider", got, p)
		}
	})
	t.Run("UpdateStale", func(t *testing.T) {
		s := open(t)
		p := newProvider("p1")
		must(t, "Create", s.Providers().Create(t.Context(), p))
		must(t, "Update", s.Providers().Update(t.Context(), p))
		p.Name = "lost edit"
		wantErr(t, "Update with version 1 again", s.Providers().Update(t.Context(), p), store.ErrConflict)
		got, err := s.Providers().Get(t.Context(), "p1")
		must(t, "Get", err)
		if got.Name == "lost edit" || got.Version != 2 {
			t.Errorf("stale update was stored: %+v", got)
		}
	})
	t.Run("UpdateMissing", func(t *testing.T) {
		wantErr(t, "Update", open(t).Providers().Update(t.Context(), newProvider("p1")), store.ErrNotFound)
	})
	t.Run("UpdateConcurrent", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.Providers().Create(t.Context(), newProvider("p1")))
		const editors = 8
		errs := race(editors, func(i int) error {
			p := newProvider("p1")
			p.Name = "editor " + string(rune('A'+i))
			return s.Providers().Update(t.Context(), p)
		})
		if ok, conflicts := tally(t, errs, store.ErrConflict); ok != 1 || conflicts != editors-1 {
			t.Errorf("%d updates won and %d conflicted, want 1 and %d", ok, conflicts, editors-1)
		}
		got, err := s.Providers().Get(t.Context(), "p1")
		must(t, "Get", err)
		if got.Version != 2 {
			t.Errorf("version %d after one winning update, want 2", got.Version)
		}
		for i, err := range errs {
			if err == nil && got.Name != "editor "+string(rune('A'+i)) {
				t.Errorf("stored name %q, but editor %d won", got.Name, i)
			}
		}
	})
	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.Providers().Create(t.Context(), newProvider("p1")))
		must(t, "Create", s.Providers().Create(t.Context(), newProvider("p2")))
		createUser(t, s, "u1")
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("p1", "s1", "u1")))
		must(t, "Link", s.Identities().Link(t.Context(), newIdentity("p2", "s1", "u1")))
		must(t, "Delete", s.Providers().Delete(t.Context(), "p1"))
		_, err := s.Providers().Get(t.Context(), "p1")
		wantErr(t, "Get after Delete", err, store.ErrNotFound)
		wantErr(t, "Delete again", s.Providers().Delete(t.Context(), "p1"), store.ErrNotFound)
		// Its identities go with it: a provider added later under the same ID
		// must not inherit them. Other providers' identities stay.
		_, err = s.Identities().Get(t.Context(), "p1", "s1")
		wantErr(t, "identity of the deleted provider", err, store.ErrNotFound)
		_, err = s.Identities().Get(t.Context(), "p2", "s1")
		must(t, "identity of another provider", err)
	})
}

func newClient(id string) store.Client {
	return store.Client{
		ID:                       id,
		Name:                     "Client " + id,
		LogoURI:                  "https://app.example.com/logo.png",
		ClientURI:                "https://app.example.com/",
		SecretHash:               []byte{0xde, 0xad, 0xbe, 0xef},
		Public:                   true,
		FirstParty:               true,
		RedirectURIs:             []string{"https://app.example.com/cb", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs:   []string{"https://app.example.com/bye"},
		GrantTypes:               []string{"authorization_code", "refresh_token"},
		Scopes:                   []string{"openid", "email"},
		DefaultAudience:          "https://api.example.com",
		Audiences:                []string{"https://api2.example.com", "https://api3.example.com"},
		TokenEndpointAuthMethod:  "private_key_jwt",
		JWKS:                     []byte(`{"keys":[]}`),
		JWKSURI:                  "https://app.example.com/jwks",
		AccessTokenTTL:           5*time.Minute + time.Nanosecond,
		RefreshTokenTTL:          30 * 24 * time.Hour,
		IDTokenSignedResponseAlg: "ES256",
		ResourceServerFor:        []string{"https://api.example.com", "https://api4.example.com"},
		ExchangeTokenTypes: []string{"urn:ietf:params:oauth:token-type:access_token",
			"urn:ietf:params:oauth:token-type:id_token"},
		ExchangeProviders:     []string{"corp", "partner"},
		DPoPBoundAccessTokens: true, // RFC 9449 §5.2; Update below turns it off
		Version:               1,    // what Create stores
		CreatedAt:             at(0),
		UpdatedAt:             at(time.Second),
	}
}

func testClients(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		s := open(t)
		c := newClient("c1")
		must(t, "Create", s.Clients().Create(t.Context(), c))
		got, err := s.Clients().Get(t.Context(), "c1")
		must(t, "Get", err)
		same(t, "client", got, c)
	})
	t.Run("CreateTaken", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.Clients().Create(t.Context(), newClient("c1")))
		wantErr(t, "Create again", s.Clients().Create(t.Context(), newClient("c1")), store.ErrConflict)
	})
	t.Run("GetMissing", func(t *testing.T) {
		_, err := open(t).Clients().Get(t.Context(), "c1")
		wantErr(t, "Get", err, store.ErrNotFound)
	})
	t.Run("List", func(t *testing.T) {
		s := open(t)
		b, a := newClient("b"), store.Client{ID: "a", Version: 1} // a: every optional field empty
		must(t, "Create", s.Clients().Create(t.Context(), b))
		must(t, "Create", s.Clients().Create(t.Context(), a))
		got, err := s.Clients().List(t.Context())
		must(t, "List", err)
		same(t, "clients", got, []store.Client{a, b})
	})
	t.Run("Update", func(t *testing.T) {
		s := open(t)
		c := newClient("c1")
		must(t, "Create", s.Clients().Create(t.Context(), c))
		c = store.Client{ID: "c1", Name: "Renamed", ClientURI: "https://new.example/", RedirectURIs: []string{"https://new.example/cb"},
			Audiences: []string{"https://new.example/api"}, AccessTokenTTL: time.Minute, IDTokenSignedResponseAlg: "EdDSA",
			ResourceServerFor:  []string{"https://new.example/rs"},
			ExchangeTokenTypes: []string{"urn:ietf:params:oauth:token-type:saml2"}, ExchangeProviders: []string{"saml1"},
			CreatedAt: c.CreatedAt, UpdatedAt: at(time.Hour)}
		changed := c
		changed.CreatedAt = at(-time.Hour) // Update keeps CreatedAt
		must(t, "Update", s.Clients().Update(t.Context(), changed))
		got, err := s.Clients().Get(t.Context(), "c1")
		must(t, "Get", err)
		c.Version = 2
		same(t, "client", got, c)
	})
	// DATA-11: of two edits from the same version, the second is refused and
	// the first stays; version 0 writes regardless (the CLI's last word).
	t.Run("UpdateStaleVersion", func(t *testing.T) {
		s := open(t)
		c := newClient("c1")
		must(t, "Create", s.Clients().Create(t.Context(), c))
		first, second := c, c
		first.Name, second.Name = "First", "Second"
		must(t, "Update first", s.Clients().Update(t.Context(), first))
		wantErr(t, "Update second", s.Clients().Update(t.Context(), second), store.ErrConflict)
		got, err := s.Clients().Get(t.Context(), "c1")
		must(t, "Get", err)
		if got.Name != "First" || got.Version != 2 {
			t.Fatalf("after a stale update: %q version %d, want First version 2", got.Name, got.Version)
		}
		second.Version = 0
		must(t, "Update unversioned", s.Clients().Update(t.Context(), second))
		got, err = s.Clients().Get(t.Context(), "c1")
		must(t, "Get", err)
		if got.Name != "Second" || got.Version != 3 {
			t.Fatalf("after an unversioned update: %q version %d, want Second version 3", got.Name, got.Version)
		}
	})
	t.Run("UpdateMissing", func(t *testing.T) {
		wantErr(t, "Update", open(t).Clients().Update(t.Context(), newClient("c1")), store.ErrNotFound)
	})
	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.Clients().Create(t.Context(), newClient("c1")))
		must(t, "Delete", s.Clients().Delete(t.Context(), "c1"))
		_, err := s.Clients().Get(t.Context(), "c1")
		wantErr(t, "Get after Delete", err, store.ErrNotFound)
		wantErr(t, "Delete again", s.Clients().Delete(t.Context(), "c1"), store.ErrNotFound)
	})
}

func newAPI(id, audience string) store.API {
	return store.API{
		ID:       id,
		Audience: audience,
		Name:     "API " + id,
		Scopes: []store.Scope{
			{Name: "read", Description: "Read your <data> & \"more\""},
			{Name: "write", Description: "Change it", Roles: []string{"editor", "admin"}},
		},
		Delegation: store.DelegationPolicy{Allowed: true, MaxDuration: 168 * time.Hour, Scopes: []string{"read"},
			Redelegation: true},
		Version:   1, // what Create stores
		CreatedAt: at(0),
	}
}

func testAPIs(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		s := open(t)
		a := newAPI("a1", "https://api.example.com")
		must(t, "Create", s.APIs().Create(t.Context(), a))
		got, err := s.APIs().Get(t.Context(), "a1")
		must(t, "Get", err)
		same(t, "api", got, a)
		got, err = s.APIs().GetByAudience(t.Context(), "https://api.example.com")
		must(t, "GetByAudience", err)
		same(t, "api", got, a)
	})
	t.Run("CreateTaken", func(t *testing.T) {
		for _, tc := range []struct{ name, id, audience string }{
			{"id", "a1", "https://other.example.com"},
			{"audience", "a2", "https://api.example.com"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				must(t, "Create", s.APIs().Create(t.Context(), newAPI("a1", "https://api.example.com")))
				err := s.APIs().Create(t.Context(), newAPI(tc.id, tc.audience))
				wantErr(t, "Create", err, store.ErrConflict)
			})
		}
	})
	t.Run("GetMissing", func(t *testing.T) {
		s := open(t)
		_, err := s.APIs().Get(t.Context(), "a1")
		wantErr(t, "Get", err, store.ErrNotFound)
		_, err = s.APIs().GetByAudience(t.Context(), "https://api.example.com")
		wantErr(t, "GetByAudience", err, store.ErrNotFound)
	})
	t.Run("List", func(t *testing.T) {
		s := open(t)
		b, a := newAPI("b", "https://b.example"), store.API{ID: "a", Audience: "https://a.example", Version: 1}
		must(t, "Create", s.APIs().Create(t.Context(), b))
		must(t, "Create", s.APIs().Create(t.Context(), a))
		got, err := s.APIs().List(t.Context())
		must(t, "List", err)
		same(t, "apis", got, []store.API{a, b})
	})
	t.Run("Update", func(t *testing.T) {
		s := open(t)
		a := newAPI("a1", "https://api.example.com")
		must(t, "Create", s.APIs().Create(t.Context(), a))
		a.Audience, a.Name, a.Scopes = "https://new.example.com", "Renamed", []store.Scope{{Name: "admin"}}
		a.Delegation = store.DelegationPolicy{Allowed: true, MaxDuration: time.Hour, Scopes: []string{"admin"}}
		changed := a
		changed.CreatedAt = at(-time.Hour) // Update keeps CreatedAt
		must(t, "Update", s.APIs().Update(t.Context(), changed))
		got, err := s.APIs().GetByAudience(t.Context(), "https://new.example.com")
		must(t, "GetByAudience", err)
		a.Version = 2
		same(t, "api", got, a)
		_, err = s.APIs().GetByAudience(t.Context(), "https://api.example.com")
		wantErr(t, "GetByAudience old audience", err, store.ErrNotFound)
	})
	t.Run("UpdateTakenAudience", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.APIs().Create(t.Context(), newAPI("a1", "https://one.example")))
		must(t, "Create", s.APIs().Create(t.Context(), newAPI("a2", "https://two.example")))
		err := s.APIs().Update(t.Context(), newAPI("a2", "https://one.example"))
		wantErr(t, "Update", err, store.ErrConflict)
	})
	t.Run("UpdateMissing", func(t *testing.T) {
		err := open(t).APIs().Update(t.Context(), newAPI("a1", "https://api.example.com"))
		wantErr(t, "Update", err, store.ErrNotFound)
	})
	// DATA-11: of two edits from the same version, the second is refused and
	// the first stays; version 0 writes regardless (the CLI's last word).
	t.Run("UpdateStaleVersion", func(t *testing.T) {
		s := open(t)
		a := newAPI("a1", "https://api.example.com")
		must(t, "Create", s.APIs().Create(t.Context(), a))
		first, second := a, a
		first.Name, second.Name = "First", "Second"
		must(t, "Update first", s.APIs().Update(t.Context(), first))
		wantErr(t, "Update second", s.APIs().Update(t.Context(), second), store.ErrConflict)
		got, err := s.APIs().Get(t.Context(), "a1")
		must(t, "Get", err)
		if got.Name != "First" || got.Version != 2 {
			t.Fatalf("after a stale update: %q version %d, want First version 2", got.Name, got.Version)
		}
		second.Version = 0
		must(t, "Update unversioned", s.APIs().Update(t.Context(), second))
		got, err = s.APIs().Get(t.Context(), "a1")
		must(t, "Get", err)
		if got.Name != "Second" || got.Version != 3 {
			t.Fatalf("after an unversioned update: %q version %d, want Second version 3", got.Name, got.Version)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		must(t, "Create", s.APIs().Create(t.Context(), newAPI("a1", "https://api.example.com")))
		must(t, "Delete", s.APIs().Delete(t.Context(), "a1"))
		_, err := s.APIs().Get(t.Context(), "a1")
		wantErr(t, "Get after Delete", err, store.ErrNotFound)
		wantErr(t, "Delete again", s.APIs().Delete(t.Context(), "a1"), store.ErrNotFound)
		// The audience is free again.
		must(t, "Create", s.APIs().Create(t.Context(), newAPI("a2", "https://api.example.com")))
	})
}
