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
	id, err := e.p.Complete(context.Background(), post(html.UnescapeString(string(m[1]))), pending)
	if err != nil {
		t.Fatal(err)
	}
	if id.ProviderID != "idp-a" || id.Subject != "alice@corp.example" || id.Email != "alice@corp.example" ||
		id.EmailVerified || id.Name != "Alice A" || !slices.Contains(id.Groups, "staff") || id.AuthTime.IsZero() ||
		len(id.LogoutState) == 0 {
		t.Fatalf("identity %+v", id)
	}
	t.Run("SAML23 replay of the same response", func(t *testing.T) {
		id, err := e.p.Complete(context.Background(), post(html.UnescapeString(string(m[1]))), pending)
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
