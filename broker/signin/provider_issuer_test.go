package signin_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers/providertest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestProviderIssuerIsUnique: a second provider with the issuer or entity ID of
// another, however it is spelled (scheme and host case, trailing slash, dot
// segments, default port), is refused and nothing is stored.
func TestProviderIssuerIsUnique(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	iss := e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	idp := e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	u := iss.URL() // http://127.0.0.1:PORT
	for name, issuer := range map[string]string{
		"same":           u,
		"trailing slash": u + "/",
		"upper case":     strings.ToUpper(u),
		"dot segments":   u + "/a/../",
	} {
		spec := upstream.Spec{ID: "corp-copy", Kind: upstream.KindOIDC, Name: "Copy", ClientSecret: "s",
			OIDC: &upstream.OIDCSettings{Issuer: issuer, ClientID: "gatehouse"}}
		_, _, err := upstream.Upsert(context.Background(), e.DB, e.Srv().Upstreams().Env(), spec)
		if !errors.Is(err, upstream.ErrIssuerTaken) {
			t.Errorf("%s (%s): %v, want ErrIssuerTaken", name, issuer, err)
		}
	}
	spec := upstream.Spec{ID: "uni-copy", Kind: upstream.KindSAML, Name: "Copy",
		SAML: &upstream.SAMLSettings{MetadataXML: string(idp.Metadata())}}
	if _, _, err := upstream.Upsert(context.Background(), e.DB, e.Srv().Upstreams().Env(), spec); !errors.Is(err, upstream.ErrIssuerTaken) {
		t.Errorf("same SAML entity ID: %v, want ErrIssuerTaken", err)
	}
	for _, id := range []string{"corp-copy", "uni-copy"} {
		if _, err := e.DB.Providers().Get(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s stored: %v", id, err)
		}
	}
}

// TestCanonicalIssuer: the spellings of one issuer compare equal; URNs are
// left as they are.
func TestCanonicalIssuer(t *testing.T) {
	for in, want := range map[string]string{
		"https://ID.Example.com/":               "https://id.example.com",
		"HTTPS://id.example.com:443/realms/a/":  "https://id.example.com/realms/a",
		"https://id.example.com/realms/x/../a":  "https://id.example.com/realms/a",
		"https://id.example.com/Realms/A":       "https://id.example.com/Realms/A",
		"http://127.0.0.1:8080//":               "http://127.0.0.1:8080",
		" urn:example:idp ":                     "urn:example:idp",
		"URN:example:IdP":                       "urn:example:IdP",
		"https://id.example.com/?tenant=a#frag": "https://id.example.com?tenant=a",
	} {
		if got := upstream.CanonicalIssuer(in); got != want {
			t.Errorf("CanonicalIssuer(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestProviderIssuerChangeRefused: re-pointing a provider with linked
// identities at another issuer is refused (the same subject there is another
// person), the stored configuration stays, and its people still sign in as
// themselves. Without linked identities the change is allowed.
func TestProviderIssuerChangeRefused(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.SignIn(brokertest.NewClient(e), "alice@oidc.example")
	alice, _ := e.DB.Identities().UserOf(context.Background(), "corp", "alice-sub")
	before, _ := e.DB.Providers().Get(context.Background(), "corp")

	other := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse", ClientSecret: "s3cret-corp",
		Now: e.Clk.Now, AdvertiseIssParameter: true, Claims: map[string]any{"sub": "alice-sub", "email": "mallory@evil.example"}})
	t.Cleanup(other.Close)
	spec := upstream.Spec{ID: "corp", Kind: upstream.KindOIDC, Name: "OIDC corp", Domains: []string{"oidc.example"},
		OIDC: &upstream.OIDCSettings{Issuer: other.URL(), ClientID: "gatehouse"}}
	if _, _, err := upstream.Upsert(context.Background(), e.DB, e.Srv().Upstreams().Env(), spec); !errors.Is(err, upstream.ErrIssuerInUse) {
		t.Fatalf("issuer change with linked identities: %v, want ErrIssuerInUse", err)
	}
	if after, _ := e.DB.Providers().Get(context.Background(), "corp"); after.Version != before.Version || string(after.Settings) != string(before.Settings) {
		t.Error("refused change was stored")
	}
	e.SignIn(brokertest.NewClient(e), "alice@oidc.example")
	if u, _ := e.DB.Identities().UserOf(context.Background(), "corp", "alice-sub"); u.ID != alice.ID || u.Email != "alice@oidc.example" {
		t.Errorf("alice now signs in as %+v", u)
	}

	// A provider nobody signed in with yet may be re-pointed.
	e.AddOIDC("spare", "spare.example", false, brokertest.AliceClaims())
	spec.ID, spec.Name, spec.Domains = "spare", "Spare", []string{"spare.example"}
	if _, _, err := upstream.Upsert(context.Background(), e.DB, e.Srv().Upstreams().Env(), spec); err != nil {
		t.Errorf("issuer change without identities: %v", err)
	}
}

// TestProviderRemovedForgetsIdentities: removing a provider removes the links
// of its identities, so a provider added again under the same ID with another
// issuer does not inherit them: its "alice-sub" is a new person. Every replica
// builds the new provider, though its version is 1 again.
func TestProviderRemovedForgetsIdentities(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.SignIn(brokertest.NewClient(e), "alice@oidc.example")
	alice, _ := e.DB.Identities().UserOf(context.Background(), "corp", "alice-sub")
	if err := e.DB.Providers().Delete(context.Background(), "corp"); err != nil {
		t.Fatal(err)
	}
	e.AddOIDC("corp", "oidc.example", false, map[string]any{"sub": "alice-sub", "email": "mallory@evil.example", "name": "Mallory"})
	res, page := e.SignIn(brokertest.NewClient(e), "mallory@oidc.example")
	u, err := e.DB.Identities().UserOf(context.Background(), "corp", "alice-sub")
	if err != nil || u.ID == alice.ID {
		t.Log(res.Request.URL, page)
		t.Errorf("the re-added provider's alice-sub is %+v (%v); alice is %s", u, err, alice.ID)
	}
}

// TestSAMLMetadataRefreshKeepsEntityID: metadata fetched from the IdP's URL
// that names another entity ID is not taken; the last good copy stays.
func TestSAMLMetadataRefreshKeepsEntityID(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	idp := e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	cfg := e.Upsert(upstream.Spec{ID: "uni", Kind: upstream.KindSAML, Name: "SAML uni", Domains: []string{"saml.example"},
		SAML: &upstream.SAMLSettings{MetadataURL: idp.Server.URL + "/metadata"}})
	idp.IdP.MetadataURL.Path = "/another-entity"
	changed, err := e.Srv().Upstreams().RefreshOne(context.Background(), cfg)
	if changed || !errors.Is(err, upstream.ErrIssuerInUse) {
		t.Errorf("refresh to another entity ID: changed %v, %v", changed, err)
	}
	if after, _ := e.DB.Providers().Get(context.Background(), "uni"); after.Version != cfg.Version {
		t.Error("metadata naming another entity ID was stored")
	}
}
