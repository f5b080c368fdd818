package broker

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
			e := samlEnv(t, envOptions{})
			c := newClient(e)
			cr := e.crafted("uni", e.startSAML(c, "uni"))
			cr.R.Status, cr.R.SubStatus = tc.status, tc.sub
			if !tc.signed {
				cr.Unsigned = true
				cr.PostSign = func(resp *etree.Element) { resp.RemoveChild(resp.SelectElement("Assertion")) }
			}
			page := e.refused(e.postACS(c, "uni", cr), tc.want, 0)
			if !strings.Contains(page, tc.message) || strings.Contains(page, tc.status) {
				t.Errorf("page:\n%s", page)
			}
			e.wantAudit("signin.refused", "upstream_error")
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
			e := newSigninEnv(t, envOptions{})
			e.addOIDC("corp", "oidc.example", false, aliceClaims())
			e.oidc.Set(func(k *providertest.Knobs) { k.AuthorizeError = tc.code })
			c := newClient(e)
			page := e.refused(e.get(c, e.oidcCallback(c, "corp")), tc.want, 0)
			if !strings.Contains(page, tc.message) {
				t.Errorf("page:\n%s", page)
			}
			e.wantAudit("signin.refused", "upstream_error")
		})
	}
}

// TestSAMLEmailsVerifiedSetting: with emails_verified set, a trusted SAML
// provider's email in one of its own domains is verified and links to the user
// with that address (WEB-25); without it, it is not, and a new user is created.
func TestSAMLEmailsVerifiedSetting(t *testing.T) {
	t.Parallel()
	for _, verified := range []bool{false, true} {
		e := newSigninEnv(t, envOptions{})
		e.addOIDC("corp", "oidc.example", true, aliceClaims())
		e.addSAML("uni", "saml.example", true, carol(), func(s *upstream.Spec) {
			s.SAML.EmailsVerified = verified
			s.Domains = append(s.Domains, "oidc.example")
		})
		vc := newClient(e)
		e.follow(vc, e.get(vc, "/login/corp"))
		victim, _ := e.db.Identities().Get(context.Background(), "corp", "alice-sub")
		c := newClient(e)
		cr := e.crafted("uni", e.startSAML(c, "uni"))
		cr.A.NameID = "alice-at-uni"
		cr.A.Attributes = map[string][]string{"mail": {"alice@oidc.example"}}
		if res := e.postACS(c, "uni", cr); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", res.StatusCode)
		}
		got, err := e.db.Identities().Get(context.Background(), "uni", "alice-at-uni")
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
	e := newSigninEnv(t, envOptions{})
	e.addSAML("uni", "saml.example", false, carol())
	e.addSAML("long", "long.example", false, carol(), func(s *upstream.Spec) {
		s.SAML.SPMetadataValidity = upstream.Duration(90 * 24 * time.Hour)
	})
	for id, want := range map[string]time.Duration{"uni": 30 * 24 * time.Hour, "long": 90 * 24 * time.Hour} {
		res := e.get(newClient(e), "/saml/"+id+"/metadata")
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var md crewjam.EntityDescriptor
		if err := xml.Unmarshal(b, &md); err != nil {
			t.Fatal(err)
		}
		if !md.ValidUntil.Equal(e.clk.Now().Add(want)) || md.CacheDuration != 24*time.Hour {
			t.Errorf("%s: validUntil %s cacheDuration %s, want %s and 24h", id, md.ValidUntil, md.CacheDuration, e.clk.Now().Add(want))
		}
	}
	cfg, err := e.db.Providers().Get(context.Background(), "uni")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := upstream.DecodeSAML(cfg.Settings)
	s.SPMetadataValidity = upstream.Duration(time.Hour)
	cfg.Settings, _ = json.Marshal(s)
	if _, err := e.srv().Upstreams().Env().Build(cfg); err == nil {
		t.Error("an SP metadata validity of 1h was accepted")
	}
}
