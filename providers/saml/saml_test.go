package saml

import (
	"context"
	"html"

	"github.com/beevik/etree"
	"io"
	"net/http"
	"regexp"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

var samlResponseField = regexp.MustCompile(`name="SAMLResponse" value="([^"]+)"`)

// TestRoundTripCrewjamIdP: Begin → the real IdP (signed AuthnRequest over
// HTTP-Redirect) → its auto-POST form → Complete.
func TestRoundTripCrewjamIdP(t *testing.T) {
	e := newEnv(t)
	_, pending, start := e.begin(t)
	if start.RedirectURL == "" {
		t.Fatalf("Begin = %+v", start)
	}
	resp, err := http.Get(start.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := samlResponseField.FindSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("IdP answered %d: %s", resp.StatusCode, body)
	}
	id, err := e.use(e.p.Complete(context.Background(), post(html.UnescapeString(string(m[1]))), pending))
	if err != nil {
		t.Fatal(err)
	}
	if id.ProviderID != "idp-a" || id.Subject != "alice@corp.example" || id.Email != "alice@corp.example" ||
		id.EmailVerified || id.Name != "Alice A" || !slices.Contains(id.Groups, "staff") || id.AuthTime.IsZero() ||
		len(id.LogoutState) == 0 {
		t.Fatalf("identity %+v", id)
	}
	t.Run("SAML23 replay of the same response", func(t *testing.T) {
		id, err := e.use(e.p.Complete(context.Background(), post(html.UnescapeString(string(m[1]))), pending))
		refused(t, id, err, providers.ErrReplay)
	})
}

func TestPostBinding(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RequestBinding = BindingPOST })
	_, _, start := e.begin(t)
	if start.Form == nil || start.Form.Action == "" || start.Form.Fields[0].Name != "SAMLRequest" {
		t.Fatalf("Begin = %+v", start)
	}
}

func TestCraftedPositiveControls(t *testing.T) {
	e := newEnv(t)
	for name, build := range map[string]func(reqID string) *etree.Document{
		"signed assertion": func(reqID string) *etree.Document { return e.signedDoc(reqID) },
		"signed response": func(reqID string) *etree.Document {
			doc := providertest.BuildResponse(e.response(reqID), providertest.BuildAssertion(e.assertion(reqID)))
			e.signer.Sign(doc.Root())
			return doc
		},
		"both signed": func(reqID string) *etree.Document {
			doc := e.signedDoc(reqID)
			e.signer.Sign(doc.Root())
			return doc
		},
	} {
		t.Run(name, func(t *testing.T) {
			reqID, pending, _ := e.begin(t)
			id, err := e.complete(build(reqID), pending)
			if err != nil || id.Subject != "mallory@corp.example" {
				t.Fatalf("%+v %v", id, err)
			}
		})
	}
}

func TestRequireSignedAssertion(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RequireSignedAssertion = true })
	reqID, pending, _ := e.begin(t)
	doc := providertest.BuildResponse(e.response(reqID), providertest.BuildAssertion(e.assertion(reqID)))
	e.signer.Sign(doc.Root())
	id, err := e.complete(doc, pending)
	refused(t, id, err, providers.ErrInvalidResponse)
}

func TestMetadata(t *testing.T) {
	e := newEnv(t)
	md, ct, err := e.p.Metadata()
	if err != nil || ct != "application/samlmetadata+xml" || !regexp.MustCompile(`AssertionConsumerService[^>]+`+regexp.QuoteMeta(acsURL)).Match(md) {
		t.Fatalf("%s %s %v", md, ct, err)
	}
}

// TestOIDC25_ForceAuthn: Reauthenticate sends ForceAuthn="true" (saml-core
// §3.4.1) and SAML class references among the ACR values a
// RequestedAuthnContext; the IdP's new AuthnInstant is the identity's AuthTime.
func TestOIDC25_ForceAuthn(t *testing.T) {
	e := newEnv(t)
	const mfa = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"
	start, err := e.p.Begin(context.Background(), providers.BeginParams{Reauthenticate: true, ACRValues: []string{"urn:mfa", mfa}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(start.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := samlResponseField.FindSubmatch(body)
	if m == nil {
		t.Fatalf("IdP answered %d: %s", resp.StatusCode, body)
	}
	reqs := e.idp.AuthnRequests()
	if len(reqs) != 1 || reqs[0].ForceAuthn == nil || !*reqs[0].ForceAuthn {
		t.Fatalf("AuthnRequest without ForceAuthn: %+v", reqs)
	}
	if rac := reqs[0].RequestedAuthnContext; rac == nil || !slices.Equal(rac.ClassRefs(), []string{mfa}) || rac.Comparison != "exact" {
		t.Fatalf("RequestedAuthnContext %+v", rac)
	}
	id, err := e.p.Complete(context.Background(), post(html.UnescapeString(string(m[1]))), start.Pending)
	if err != nil {
		t.Fatal(err)
	}
	if !id.AuthTime.Equal(t0) {
		t.Errorf("AuthTime %s, want the new sign-in at %s", id.AuthTime, t0)
	}
	// Without Reauthenticate: no ForceAuthn, no RequestedAuthnContext, and the
	// IdP's session answers with its old AuthnInstant.
	_, _, start = e.begin(t)
	resp, err = http.Get(start.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if reqs := e.idp.AuthnRequests(); len(reqs) != 2 || reqs[1].ForceAuthn != nil || reqs[1].RequestedAuthnContext != nil {
		t.Fatalf("plain AuthnRequest %+v", reqs[1])
	}
}
