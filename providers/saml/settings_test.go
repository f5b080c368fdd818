package saml

import (
	"context"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
)

// TestUnsignedRequests: with UnsignedRequests the AuthnRequest carries no
// signature in either binding (saml-bindings §3.4.4.1 query parameters,
// §3.5.4 enveloped), and the SP metadata says AuthnRequestsSigned="false";
// by default both are signed.
func TestUnsignedRequests(t *testing.T) {
	for _, unsigned := range []bool{false, true} {
		redirect := newEnv(t, func(c *Config) { c.UnsignedRequests = unsigned })
		_, _, start := redirect.begin(t)
		if strings.Contains(start.RedirectURL, "Signature=") == unsigned || strings.Contains(start.RedirectURL, "SigAlg=") == unsigned {
			t.Errorf("unsigned %v: redirect %s", unsigned, start.RedirectURL)
		}
		post := newEnv(t, func(c *Config) { c.UnsignedRequests, c.RequestBinding = unsigned, BindingPOST })
		_, _, start = post.begin(t)
		req, err := base64.StdEncoding.DecodeString(start.Form.Fields[0].Value)
		if err != nil || strings.Contains(string(req), "SignatureValue") == unsigned {
			t.Errorf("unsigned %v: POST AuthnRequest %s %v", unsigned, req, err)
		}
		md, _, err := post.p.Metadata()
		want := `AuthnRequestsSigned="true"`
		if unsigned {
			want = `AuthnRequestsSigned="false"`
		}
		if err != nil || !strings.Contains(string(md), want) || !strings.Contains(string(md), `<KeyDescriptor use="encryption">`) {
			t.Errorf("unsigned %v: SP metadata lacks %s or the encryption key: %s", unsigned, want, md)
		}
	}
}

// TestRequireEncryptedAssertions: a valid, signed but plain assertion is
// refused when encryption is required (no identity, no replay key), and the
// real IdP's assertion, encrypted to the SP key its metadata offers, passes.
func TestRequireEncryptedAssertions(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RequireEncryptedAssertions = true })
	reqID, pending, _ := e.begin(t)
	id, err := e.complete(e.signedDoc(reqID), pending)
	refused(t, id, err, providers.ErrInvalidResponse)
	if !strings.Contains(err.Error(), "not encrypted") || len(e.replay.m) != 0 {
		t.Errorf("err %v, replay keys recorded %d", err, len(e.replay.m))
	}

	_, pending, start := e.begin(t)
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
	encoded := html.UnescapeString(string(m[1]))
	if doc, _ := base64.StdEncoding.DecodeString(encoded); !strings.Contains(string(doc), "EncryptedAssertion") {
		t.Fatalf("the IdP did not encrypt: %s", doc)
	}
	if id, err := e.use(e.p.Complete(context.Background(), post(encoded), pending)); err != nil || id.Subject != "alice@corp.example" {
		t.Fatalf("encrypted assertion: %+v %v", id, err)
	}
}
