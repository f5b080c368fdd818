package signin_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers/providertest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestUpstreamErrorIs4xx: an IdP that answers a sign-in with an error (a
// SAML StatusCode other than Success, often unsigned; an OIDC error=) gets
// the person a 4xx page with a plain message: 403 when it denied access,
// 400 otherwise, never a 5xx. Nothing is stored.
func TestUpstreamErrorIs4xx(t *testing.T) {
	t.Parallel()
	const (
		denied = "did not allow the sign-in"
		failed = "reported an error"
	)
	for _, tc := range []struct {
		name, status string
		sub          string
		signed       bool
		want         int
		message      string
	}{
		{"Responder_unsigned", crewjam.StatusResponder, "", false, http.StatusBadRequest, failed},
		{"Requester_signed_assertion", crewjam.StatusRequester, "", true, http.StatusBadRequest, failed},
		{"VersionMismatch", crewjam.StatusVersionMismatch, "", false, http.StatusBadRequest, failed},
		{"NoPassive", crewjam.StatusResponder, crewjam.StatusNoPassive, false, http.StatusBadRequest, failed},
		{"RequestDenied", crewjam.StatusResponder, crewjam.StatusRequestDenied, false, http.StatusForbidden, denied},
		{"AuthnFailed", crewjam.StatusResponder, crewjam.StatusAuthnFailed, false, http.StatusForbidden, denied},
		{"RequestDenied_top_level", crewjam.StatusRequestDenied, "", false, http.StatusForbidden, denied},
	} {
		t.Run("SAML37_"+tc.name, func(t *testing.T) {
			t.Parallel()
			e := samlEnv(t, brokertest.Options{})
			c := brokertest.NewClient(e)
			cr := craftResponse(e, "uni", startSAML(e, c, "uni"))
			cr.R.Status, cr.R.SubStatus = tc.status, tc.sub
			if !tc.signed {
				cr.Unsigned = true
				cr.PostSign = func(resp *etree.Element) { resp.RemoveChild(resp.SelectElement("Assertion")) }
			}
			page := refused(e, postACS(e, c, "uni", cr), tc.want, 0)
			if !strings.Contains(page, tc.message) || strings.Contains(page, tc.status) {
				t.Errorf("page:\n%s", page)
			}
			wantAudit(e, "signin.refused", "upstream_error")
		})
	}
	for _, tc := range []struct {
		code    string
		want    int
		message string
	}{
		{"server_error", http.StatusBadRequest, failed},
		{"temporarily_unavailable", http.StatusBadRequest, failed},
		{"login_required", http.StatusBadRequest, failed},
		{"access_denied", http.StatusForbidden, denied},
	} {
		t.Run("OIDC_"+tc.code, func(t *testing.T) {
			t.Parallel()
			e := brokertest.NewSigninEnv(t, brokertest.Options{})
			e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
			e.OIDC.Set(func(k *providertest.Knobs) { k.AuthorizeError = tc.code })
			c := brokertest.NewClient(e)
			page := refused(e, e.Get(c, oidcCallback(e, c, "corp")), tc.want, 0)
			if !strings.Contains(page, tc.message) {
				t.Errorf("page:\n%s", page)
			}
			wantAudit(e, "signin.refused", "upstream_error")
		})
	}
}

// TestSAMLEmailsVerifiedSetting: with emails_verified set, a trusted SAML
// provider's email in one of its own domains is verified and links to the user
// with that address (WEB-25); without it, it is not, and a new user is created.
func TestSAMLEmailsVerifiedSetting(t *testing.T) {
	t.Parallel()
	for _, verified := range []bool{false, true} {
		e := brokertest.NewSigninEnv(t, brokertest.Options{})
		e.AddOIDC("corp", "oidc.example", true, brokertest.AliceClaims())
		e.AddSAML("uni", "saml.example", true, brokertest.Carol(), func(s *upstream.Spec) {
			s.SAML.EmailsVerified = verified
			s.Domains = append(s.Domains, "oidc.example")
		})
		vc := brokertest.NewClient(e)
		e.Follow(vc, e.Get(vc, "/login/corp"))
		victim, _ := e.DB.Identities().Get(context.Background(), "corp", "alice-sub")
		c := brokertest.NewClient(e)
		cr := craftResponse(e, "uni", startSAML(e, c, "uni"))
		cr.A.NameID = "alice-at-uni"
		cr.A.Attributes = map[string][]string{"mail": {"alice@oidc.example"}}
		if res := postACS(e, c, "uni", cr); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", res.StatusCode)
		}
		got, err := e.DB.Identities().Get(context.Background(), "uni", "alice-at-uni")
		if err != nil {
			t.Fatal(err)
		}
		if got.EmailVerified != verified || (got.UserID == victim.UserID) != verified {
			t.Errorf("emails_verified %v: identity verified %v, linked %v", verified, got.EmailVerified, got.UserID == victim.UserID)
		}
	}
}

// TestSPMetadataValidUntil: the SP metadata Gatehouse serves is valid for the
// provider's sp_metadata_validity (default 30 days) and carries cacheDuration.
func TestSPMetadataValidUntil(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	e.AddSAML("long", "long.example", false, brokertest.Carol(), func(s *upstream.Spec) {
		s.SAML.SPMetadataValidity = upstream.Duration(90 * 24 * time.Hour)
	})
	for id, want := range map[string]time.Duration{"uni": 30 * 24 * time.Hour, "long": 90 * 24 * time.Hour} {
		res := e.Get(brokertest.NewClient(e), "/saml/"+id+"/metadata")
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var md crewjam.EntityDescriptor
		if err := xml.Unmarshal(b, &md); err != nil {
			t.Fatal(err)
		}
		if !md.ValidUntil.Equal(e.Clk.Now().Add(want)) || md.CacheDuration != 24*time.Hour {
			t.Errorf("%s: validUntil %s cacheDuration %s, want %s and 24h", id, md.ValidUntil, md.CacheDuration, e.Clk.Now().Add(want))
		}
	}
	cfg, err := e.DB.Providers().Get(context.Background(), "uni")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := upstream.DecodeSAML(cfg.Settings)
	s.SPMetadataValidity = upstream.Duration(time.Hour)
	cfg.Settings, _ = json.Marshal(s)
	if _, err := e.Srv().Upstreams().Env().Build(cfg); err == nil {
		t.Error("an SP metadata validity of 1h was accepted")
	}
}
