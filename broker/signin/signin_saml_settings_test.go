package signin_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// spMetadata is the SP metadata Gatehouse serves for provider id.
func spMetadata(e *brokertest.SigninEnv, id string) string {
	e.T.Helper()
	res := e.Get(brokertest.NewClient(e), "/saml/"+id+"/metadata")
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		e.T.Fatalf("SP metadata: %d %s", res.StatusCode, b)
	}
	return string(b)
}

// idpAnswer starts a sign-in at provider id in c and returns the IdP's
// answer: the form its page posts to the ACS, not yet posted.
func idpAnswer(e *brokertest.SigninEnv, c *http.Client, id string) (action string, form url.Values) {
	e.T.Helper()
	res := e.Get(c, "/login/"+id)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		e.T.Fatalf("start: %d", res.StatusCode)
	}
	res = e.Get(c, res.Header.Get("Location"))
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	action, form, ok := brokertest.AutoPostForm(string(b))
	if !ok || !form.Has("SAMLResponse") {
		e.T.Fatalf("the IdP answered %d without a SAMLResponse form:\n%s", res.StatusCode, b)
	}
	return action, form
}

var encryptionKeyDescriptor = regexp.MustCompile(`(?s)<KeyDescriptor use="encryption">.*?</KeyDescriptor>`)

// TestSAMLRequireEncryptedAssertions: a provider set to require encrypted
// assertions refuses a real crewjam IdP's valid but plain assertion (no
// session, no user, no identity, nothing recorded as used) and accepts the
// same IdP's encrypted one. saml-core §2.3.4, §6.2.
func TestSAMLRequireEncryptedAssertions(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	requireEncryption := func(on bool) func(*upstream.Spec) {
		return func(s *upstream.Spec) { s.SAML.RequireEncryptedAssertions = on }
	}
	idp := e.AddSAML("uni", "saml.example", false, brokertest.Carol(), requireEncryption(true))
	md := spMetadata(e, "uni")
	// The SP metadata offers the SP certificate for encryption (saml-metadata
	// §2.4.1.1), so the IdP knows what to encrypt to.
	if !encryptionKeyDescriptor.MatchString(md) || !strings.Contains(md, "EncryptionMethod") {
		t.Fatalf("SP metadata without an encryption key:\n%s", md)
	}

	// The IdP registered the SP without its encryption key: it sends the
	// assertion in the clear.
	brokertest.Must(t, idp.AddSP([]byte(encryptionKeyDescriptor.ReplaceAllString(md, ""))))
	c := brokertest.NewClient(e)
	action, form := idpAnswer(e, c, "uni")
	if doc := decodeB64(t, form.Get("SAMLResponse")); strings.Contains(doc, "EncryptedAssertion") || !strings.Contains(doc, "Assertion") {
		t.Fatalf("the IdP did not send a plain assertion:\n%s", doc)
	}
	replayBefore := e.Count("replay_cache")
	refused(e, e.PostForm(c, action, form), http.StatusBadRequest, 0)
	wantAudit(e, "signin.refused", "invalid_response")
	if n := e.Identities(); n != 0 {
		t.Errorf("%d identities after the refusal", n)
	}
	if n := e.Count("replay_cache"); n != replayBefore {
		t.Errorf("the refused assertion was recorded as used (%d -> %d)", replayBefore, n)
	}
	if len(e.Audited("signin.succeeded")) != 0 {
		t.Error("signin.succeeded recorded for a refused assertion")
	}

	// Control: the same plain answer is a valid one, taken when encryption
	// is not required.
	spec := upstream.Spec{ID: "uni", Kind: upstream.KindSAML, Name: "SAML uni", Domains: []string{"saml.example"},
		SAML: &upstream.SAMLSettings{MetadataXML: string(idp.Metadata())}}
	e.Upsert(spec)
	c = brokertest.NewClient(e)
	action, form = idpAnswer(e, c, "uni")
	if res, page := e.Follow(c, e.PostForm(c, action, form)); !strings.Contains(page, `data-testid="account"`) {
		t.Fatalf("plain assertion without the requirement: %d\n%s", res.StatusCode, page)
	}

	// Required again, and the IdP encrypts to the SP key: accepted.
	requireEncryption(true)(&spec)
	e.Upsert(spec)
	brokertest.Must(t, idp.AddSP([]byte(spMetadata(e, "uni"))))
	c = brokertest.NewClient(e)
	action, form = idpAnswer(e, c, "uni")
	if doc := decodeB64(t, form.Get("SAMLResponse")); !strings.Contains(doc, "EncryptedAssertion") {
		t.Fatalf("the IdP did not encrypt the assertion:\n%s", doc)
	}
	if res, page := e.Follow(c, e.PostForm(c, action, form)); !strings.Contains(page, `data-testid="account"`) {
		t.Fatalf("encrypted assertion: %d\n%s", res.StatusCode, page)
	}
	if e.Users() != 1 || e.Sessions() != 2 {
		t.Errorf("users %d sessions %d, want 1 and 2", e.Users(), e.Sessions())
	}
}

// TestSAMLSignRequestsOff: with sign_requests false the AuthnRequest goes
// unsigned (no Signature or SigAlg in the HTTP-Redirect query, saml-bindings
// §3.4.4.1) and the SP metadata says AuthnRequestsSigned="false"; an IdP
// that does not insist on signed requests signs the person in. By default
// both say signed.
func TestSAMLSignRequestsOff(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddSAML("signed", "signed.example", false, brokertest.Carol())
	idp := e.AddSAML("uni", "saml.example", false, brokertest.Carol(), func(s *upstream.Spec) { s.SAML.SignRequests = new(false) })
	idp.IdP.WantAuthnRequestsSigned = false

	for _, tc := range []struct {
		id     string
		signed bool
	}{{"signed", true}, {"uni", false}} {
		md := spMetadata(e, tc.id)
		want := `AuthnRequestsSigned="false"`
		if tc.signed {
			want = `AuthnRequestsSigned="true"`
		}
		if !strings.Contains(md, want) {
			t.Errorf("%s: SP metadata lacks %s:\n%s", tc.id, want, md)
		}
		// Logout messages stay signed, so the signing key is still published.
		if !strings.Contains(md, `<KeyDescriptor use="signing">`) {
			t.Errorf("%s: SP metadata lacks the signing key", tc.id)
		}
		res := e.Get(brokertest.NewClient(e), "/login/"+tc.id)
		res.Body.Close()
		loc, err := url.Parse(res.Header.Get("Location"))
		if err != nil || !loc.Query().Has("SAMLRequest") {
			t.Fatalf("%s: start: %d %s", tc.id, res.StatusCode, res.Header.Get("Location"))
		}
		if q := loc.Query(); q.Has("Signature") != tc.signed || q.Has("SigAlg") != tc.signed {
			t.Errorf("%s: AuthnRequest query %v, want signed %v", tc.id, q, tc.signed)
		}
	}

	c := brokertest.NewClient(e)
	if res, page := e.SignIn(c, "carol@saml.example"); !strings.Contains(page, `data-testid="account"`) {
		t.Fatalf("sign-in with an unsigned request: %d\n%s", res.StatusCode, page)
	}
	if reqs := idp.AuthnRequests(); len(reqs) != 1 || reqs[0].Signature != nil {
		t.Errorf("the IdP received %d requests, signed: %v", len(reqs), len(reqs) == 1 && reqs[0].Signature != nil)
	}
}
