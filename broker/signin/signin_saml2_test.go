package signin_test

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/providers/safehttp"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestSAML48_49_MetadataRotationAndRefresh configures the IdP by metadata URL
// and rotates its key through metadata refreshes.
func TestSAML48_49_MetadataRotationAndRefresh(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	oldKey, oldCert := brokertest.SAMLKeys()
	newKey, newCert := providertest.NewKeyPair("new idp key", brokertest.SigninT0)
	strayKey, strayCert := providertest.NewKeyPair("never published", brokertest.SigninT0)
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	var mu sync.Mutex
	status, md := 200, []byte(nil)
	serve := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
		w.Write(md)
	}))
	t.Cleanup(serve.Close)
	publish := func(code int, body []byte) {
		mu.Lock()
		status, md = code, body
		mu.Unlock()
	}
	// (a) metadata lists the old and the new certificate.
	e.IdP.IdP.ExtraCertificates = append(e.IdP.IdP.ExtraCertificates, newCert)
	publish(200, e.IdP.Metadata())
	e.Upsert(upstream.Spec{ID: "uni", Kind: upstream.KindSAML, Name: "SAML uni", Domains: []string{"saml.example"},
		SAML: &upstream.SAMLSettings{MetadataURL: serve.URL}})
	signIn := func(key *providertestKey) int {
		c := brokertest.NewClient(e)
		cr := craftResponse(e, "uni", startSAML(e, c, "uni"))
		cr.Signer = &providertest.Signer{Key: key.k, Cert: key.c}
		res := postACS(e, c, "uni", cr)
		res.Body.Close()
		return res.StatusCode
	}
	if got := signIn(&providertestKey{newKey, newCert}); got != http.StatusSeeOther {
		t.Fatalf("(a) new key while both are published: %d", got)
	}
	if got := signIn(&providertestKey{strayKey, strayCert}); got != http.StatusBadRequest {
		t.Errorf("(c) a key never in metadata: %d", got)
	}
	// (b) the refresh drops the old certificate.
	e.IdP.IdP.Certificate, e.IdP.IdP.Key, e.IdP.IdP.ExtraCertificates = newCert, newKey, nil
	publish(200, e.IdP.Metadata())
	cfg, _ := e.DB.Providers().Get(context.Background(), "uni")
	if changed, err := e.Srv().Upstreams().RefreshOne(context.Background(), cfg); err != nil || !changed {
		t.Fatalf("refresh: %v %v", changed, err)
	}
	if got := signIn(&providertestKey{oldKey, oldCert}); got != http.StatusBadRequest {
		t.Errorf("(b) the dropped old key: %d", got)
	}
	// SAML-49: a failed refresh, or poisoned metadata, keeps the last good copy.
	cfg, _ = e.DB.Providers().Get(context.Background(), "uni")
	for _, bad := range []struct {
		code int
		body string
	}{{500, "oops"}, {200, "<EntityDescriptor/>"}, {200, `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>`},
		{200, validUntil.ReplaceAllString(string(e.IdP.Metadata()), `validUntil="2001-01-01T00:00:00Z"`)}} {
		publish(bad.code, []byte(bad.body))
		if _, err := e.Srv().Upstreams().RefreshOne(context.Background(), cfg); err == nil {
			t.Errorf("refresh accepted %d %.40s", bad.code, bad.body)
		}
	}
	if got := signIn(&providertestKey{newKey, newCert}); got != http.StatusSeeOther {
		t.Errorf("after failed refreshes the last good metadata is gone: %d", got)
	}
	// Over plain http, without the loopback test allowance: refused.
	env := e.Srv().Upstreams().Env()
	env.Networks = safehttp.Networks{}
	if _, err := env.FetchMetadata(context.Background(), serve.URL); err == nil {
		t.Error("metadata over http:// accepted")
	}
}

var validUntil = regexp.MustCompile(`validUntil="[^"]*"`)

type providertestKey struct {
	k *rsa.PrivateKey
	c *x509.Certificate
}

// deflateBomb is ~130 KB of DEFLATE that inflates to 128 MiB of zeros (enough
// to pass any sane inflate limit; 1 GiB would take seconds just to build).
func deflateBomb(t *testing.T) string {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 128 {
		w.Write(zeros)
	}
	w.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// idpLogoutForm is a LogoutRequest signed by the test IdP (HTTP-POST binding).
func idpLogoutForm(e *brokertest.SigninEnv, nameID string) url.Values {
	ep := upstream.EndpointsFor(mustURL(e.TS.URL), "uni")
	el := etree.NewElement("samlp:LogoutRequest")
	el.CreateAttr("xmlns:samlp", providertest.NSProtocol)
	el.CreateAttr("xmlns:saml", providertest.NSAssertion)
	el.CreateAttr("ID", "lr-"+token.Random(8))
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", e.Clk.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	el.CreateAttr("Destination", ep.SLO)
	el.CreateElement("saml:Issuer").SetText(e.IdP.IdP.Metadata().EntityID)
	n := el.CreateElement("saml:NameID")
	n.CreateAttr("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
	n.SetText(nameID)
	k, c := brokertest.SAMLKeys()
	signed := providertest.Signer{Key: k, Cert: c}.Sign(el)
	doc := etree.NewDocument()
	doc.SetRoot(signed)
	b, _ := doc.WriteToBytes()
	return url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(b)}}
}

// TestSAML20_LogoutResponseWithoutIssuer posts an unsigned LogoutResponse
// without Issuer to the SLO endpoint: refused, the process keeps serving.
func TestSAML20_LogoutResponseWithoutIssuer(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, brokertest.Options{})
	doc := `<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" Version="2.0" IssueInstant="` +
		e.Clk.Now().UTC().Format("2006-01-02T15:04:05Z") + `" InResponseTo="y"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>`
	c := brokertest.NewClient(e)
	res := e.PostForm(c, "/saml/uni/slo", url.Values{"SAMLResponse": {encodeB64(doc)}})
	_, page := e.Follow(c, res)
	if !strings.Contains(page, "did not confirm the sign-out") {
		t.Errorf("page:\n%s", page)
	}
	wantAudit(e, "logout.refused", "no_pending_logout")
	if res := e.Get(c, "/healthz"); res.StatusCode != 200 {
		t.Error("server not serving after the SLO message")
	}
}

// TestSAML45_DeflateBombAtSLO sends a 1 KB → 1 GB DEFLATE bomb by HTTP-Redirect.
func TestSAML45_DeflateBombAtSLO(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, brokertest.Options{})
	res := e.Get(brokertest.NewClient(e), "/saml/uni/slo?SAMLRequest="+url.QueryEscape(deflateBomb(t)))
	res.Body.Close()
	if res.StatusCode < 400 || res.StatusCode >= 500 {
		t.Errorf("deflate bomb: %d", res.StatusCode)
	}
}

// TestIdPInitiatedLogout: the IdP's own LogoutRequest ends the sessions it
// names and is answered.
func TestIdPInitiatedLogout(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, brokertest.Options{})
	c := brokertest.NewClient(e)
	e.SignIn(c, "carol@saml.example")
	other := brokertest.NewClient(e)
	e.SignIn(other, "carol@saml.example")
	if e.Sessions() != 2 {
		t.Fatalf("sessions %d", e.Sessions())
	}
	res := e.PostForm(c, "/saml/uni/slo", idpLogoutForm(e, "carol@saml.example"))
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "SAMLResponse=") {
		t.Fatalf("logout request: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if e.Sessions() != 0 {
		t.Errorf("sessions after IdP-initiated logout: %d", e.Sessions())
	}
}

// TestIdPInitiatedLogoutReplay: the same LogoutRequest posted again is refused
// (its ID is in the replay cache) and ends nothing, even a session started since.
func TestIdPInitiatedLogoutReplay(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, brokertest.Options{})
	c := brokertest.NewClient(e)
	e.SignIn(c, "carol@saml.example")
	form := idpLogoutForm(e, "carol@saml.example")
	res := e.PostForm(c, "/saml/uni/slo", form)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || e.Sessions() != 0 {
		t.Fatalf("logout request: %d, sessions %d", res.StatusCode, e.Sessions())
	}
	e.SignIn(brokertest.NewClient(e), "carol@saml.example")
	res = e.PostForm(brokertest.NewClient(e), "/saml/uni/slo", form)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || e.Sessions() != 1 {
		t.Errorf("replayed logout request: %d, sessions %d", res.StatusCode, e.Sessions())
	}
	wantAudit(e, "logout.refused", "replay")
}

// logoutStatus decodes the LogoutResponse the SLO endpoint redirects to and
// returns its top-level and second-level status codes.
func logoutStatus(t *testing.T, res *http.Response) (top, second string) {
	t.Helper()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout request answered %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	raw, err := base64.StdEncoding.DecodeString(loc.Query().Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if _, err := doc.ReadFrom(flate.NewReader(bytes.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	if el := doc.FindElement("//Status/StatusCode"); el != nil {
		top = el.SelectAttrValue("Value", "")
		if sub := el.SelectElement("StatusCode"); sub != nil {
			second = sub.SelectAttrValue("Value", "")
		}
	}
	return top, second
}

// TestIdPInitiatedLogoutStatus: saml-core §3.7.3.2. A LogoutRequest whose
// NameID is not the provider's subject (mapped from another attribute) still
// ends the sessions it names, found by the logout key, and is answered
// Success; one that matches no session here is answered
// Responder/UnknownPrincipal, not Success, and ends nothing else.
func TestIdPInitiatedLogoutStatus(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	s := brokertest.Carol()
	s.CustomAttributes = append(s.CustomAttributes, crewjam.Attribute{Name: "employeeNumber",
		Values: []crewjam.AttributeValue{{Type: "xs:string", Value: "E-1234"}}})
	e.AddSAML("uni", "saml.example", false, s, func(sp *upstream.Spec) {
		sp.SAML.Mapping = providers.DefaultSAMLMapping()
		sp.SAML.Mapping.Subject = []string{"employeeNumber"}
	})
	c := brokertest.NewClient(e)
	e.SignIn(c, "carol@saml.example")
	if _, err := e.DB.Identities().Get(context.Background(), "uni", "E-1234"); err != nil || e.Sessions() != 1 {
		t.Fatalf("subject not from the attribute: %v, sessions %d", err, e.Sessions())
	}

	// No session for this NameID: UnknownPrincipal, Carol's session stays.
	top, second := logoutStatus(t, e.PostForm(brokertest.NewClient(e), "/saml/uni/slo", idpLogoutForm(e, "nobody@saml.example")))
	if top != crewjam.StatusResponder || second != crewjam.StatusUnknownPrincipal || e.Sessions() != 1 {
		t.Errorf("unknown principal: status %s / %s, sessions %d", top, second, e.Sessions())
	}
	wantAuditAction(e, "logout.upstream")

	// Carol's NameID (not her subject): her session ends, Success.
	top, _ = logoutStatus(t, e.PostForm(c, "/saml/uni/slo", idpLogoutForm(e, "carol@saml.example")))
	if top != crewjam.StatusSuccess || e.Sessions() != 0 {
		t.Errorf("carol: status %s, sessions %d", top, e.Sessions())
	}
	// The same again: her session is gone, so nothing was logged out here.
	top, _ = logoutStatus(t, e.PostForm(c, "/saml/uni/slo", idpLogoutForm(e, "carol@saml.example")))
	if top != crewjam.StatusResponder {
		t.Errorf("second logout: status %s", top)
	}
}
