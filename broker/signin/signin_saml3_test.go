package signin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestWEB25_SAMLNoLinkByEmail: a SAML IdP sends the email of an existing user
// (signed in before through a trusted OIDC provider). It links to that user
// automatically only when the admin trusts it for email linking, marked its
// emails as verified (SAML has no verified flag) AND lists the email's domain
// as its own; a verified email otherwise gets the explicit choice, and the
// person here keeps a separate account.
func TestWEB25_SAMLNoLinkByEmail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                      string
		trusted, vouch, ownDomain bool
		linked                    bool
	}{
		{"untrusted", false, false, false, false},
		{"untrusted_assumes_verified", false, true, false, false},
		{"trusted_unverified", true, false, false, false},
		{"trusted_verified_other_domain", true, true, false, false},
		{"trusted_unverified_own_domain", true, false, true, false},
		{"trusted_verified_own_domain", true, true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := brokertest.NewSigninEnv(t, brokertest.Options{})
			e.AddOIDC("corp", "oidc.example", true, brokertest.AliceClaims())
			e.AddSAML("uni", "saml.example", tc.trusted, brokertest.Carol(), func(s *upstream.Spec) {
				s.SAML.Mapping = providers.DefaultSAMLMapping()
				s.SAML.Mapping.AssumeEmailVerified = tc.vouch
				if tc.ownDomain {
					s.Domains = append(s.Domains, "oidc.example")
				}
			})
			vc := brokertest.NewClient(e)
			e.Follow(vc, e.Get(vc, "/login/corp"))
			victim, _ := e.DB.Identities().Get(context.Background(), "corp", "alice-sub")
			c := brokertest.NewClient(e)
			cr := craftResponse(e, "uni", startSAML(e, c, "uni"))
			cr.A.NameID = "mallory-at-uni"
			cr.A.Attributes = map[string][]string{"mail": {"Alice@oidc.example"}, "displayName": {"Mallory"}}
			res, page := e.Follow(c, postACS(e, c, "uni", cr))
			if offered := strings.Contains(page, `data-testid="link-choice"`); offered != (tc.vouch && !tc.linked) {
				t.Fatalf("link choice offered %v (%s)", offered, res.Request.URL)
			} else if offered {
				e.ChooseLink(c, page, "new")
			}
			got, err := e.DB.Identities().Get(context.Background(), "uni", "mallory-at-uni")
			if err != nil {
				t.Fatal(err)
			}
			if linked := got.UserID == victim.UserID; linked != tc.linked {
				t.Errorf("linked to the existing user: %v, want %v", linked, tc.linked)
			}
			wantUsers := 2
			if tc.linked {
				wantUsers = 1
				wantAuditAction(e, "identity.linked")
			}
			if e.Users() != wantUsers {
				t.Errorf("users %d, want %d", e.Users(), wantUsers)
			}
		})
	}
}

// TestSAML21_CrossIdP: with two SAML providers, a response for a flow started
// at one, presented at the other's ACS, is refused (the flow names its
// provider); an assertion for provider B signed by another IdP's key, or
// signed by B's key but issued in A's name, is refused. Nothing stored.
func TestSAML21_CrossIdP(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	idpB := e.AddSAML("uni2", "saml2.example", false, brokertest.Carol())
	otherKey, otherCert := providertest.NewKeyPair("idp a key", brokertest.SigninT0)

	// A's flow and response, posted to B's ACS.
	c := brokertest.NewClient(e)
	cr := craftResponse(e, "uni", startSAML(e, c, "uni"))
	refused(e, postACS(e, c, "uni2", cr), http.StatusBadRequest, 0)
	wantAudit(e, "signin.refused", "flow_for_other_provider")

	forB := func() crafted {
		cl := brokertest.NewClient(e)
		reqID := startSAML(e, cl, "uni2")
		cr := craftResponse(e, "uni2", reqID)
		cr.A.Issuer, cr.R.Issuer = idpB.IdP.Metadata().EntityID, idpB.IdP.Metadata().EntityID
		c = cl
		return cr
	}
	// Signed by a key B's metadata does not list, in B's name.
	cr = forB()
	cr.Signer = &providertest.Signer{Key: otherKey, Cert: otherCert}
	refused(e, postACS(e, c, "uni2", cr), http.StatusBadRequest, 0)
	// Signed with B's key, but issued in A's name.
	cr = forB()
	cr.A.Issuer, cr.R.Issuer = e.IdP.IdP.Metadata().EntityID, e.IdP.IdP.Metadata().EntityID
	if cr.A.Issuer == idpB.IdP.Metadata().EntityID {
		t.Fatal("test IdPs share an entity ID")
	}
	refused(e, postACS(e, c, "uni2", cr), http.StatusBadRequest, 0)
	wantAudit(e, "signin.refused", "invalid_response")
	if e.Identities() != 0 {
		t.Errorf("identities %d", e.Identities())
	}
}

// TestSAML50_MetadataLocationRefused: IdP metadata whose SingleSignOnService
// Location is javascript: (or data:, or http on a production issuer), or
// whose only SSO service has a binding Gatehouse does not speak, is refused
// when saved, so no sign-in page can ever render it; the stored provider is
// unchanged.
func TestSAML50_MetadataLocationRefused(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	good := string(e.IdP.Metadata())
	sso := e.IdP.IdP.SSOURL.String()
	before, _ := e.DB.Providers().Get(context.Background(), "uni")
	for name, md := range map[string]string{
		"javascript":      strings.ReplaceAll(good, `Location="`+sso+`"`, `Location="javascript:alert(1)"`),
		"data":            strings.ReplaceAll(good, `Location="`+sso+`"`, `Location="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;"`),
		"unknown_binding": strings.ReplaceAll(strings.ReplaceAll(good, "HTTP-Redirect", "HTTP-Evil"), "HTTP-POST", "HTTP-Evil"),
	} {
		if md == good {
			t.Fatalf("%s: the metadata was not changed", name)
		}
		_, _, err := upstream.Upsert(context.Background(), e.DB, e.Srv().Upstreams().Env(), upstream.Spec{
			ID: "uni", Kind: upstream.KindSAML, Name: "SAML uni", Domains: []string{"saml.example"},
			SAML: &upstream.SAMLSettings{MetadataXML: md}})
		if !errors.Is(err, providers.ErrConfig) {
			t.Errorf("%s: saved (err %v)", name, err)
		}
	}
	after, _ := e.DB.Providers().Get(context.Background(), "uni")
	if after.Version != before.Version {
		t.Errorf("provider changed: version %d -> %d", before.Version, after.Version)
	}
	// The auto-POST / redirect to the IdP still goes to the good location.
	res := e.Get(brokertest.NewClient(e), "/login/uni")
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, sso) {
		t.Errorf("sign-in goes to %q", loc)
	}
}
