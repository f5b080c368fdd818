package providertest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"
)

// NewKeyPair returns a 2048-bit RSA key and a self-signed certificate valid
// around now.
func NewKeyPair(cn string, now time.Time) (*rsa.PrivateKey, *x509.Certificate) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.AddDate(5, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return key, cert
}

type nowClock struct {
	clockwork.Clock
	now func() time.Time
}

func (c nowClock) Now() time.Time { return c.now() }

// SAMLIdP is crewjam's saml.IdentityProvider on httptest with a fixed signed-in
// user (no login page), for happy-path round trips.
type SAMLIdP struct {
	Server *httptest.Server
	IdP    *saml.IdentityProvider
	Key    *rsa.PrivateKey
	Cert   *x509.Certificate

	// SLOHits counts requests to /slo (single logout).
	SLOHits atomic.Int64

	// IgnoreForceAuthn makes the IdP answer a ForceAuthn request from the
	// person's existing session, as if it had not been asked.
	IgnoreForceAuthn atomic.Bool

	now      func() time.Time
	mux      *http.ServeMux
	mu       sync.Mutex
	sps      map[string]*saml.EntityDescriptor
	session  saml.Session
	users    []saml.Session // if set, /sso asks who you are (the demo)
	pickPage PickPage       // writes that page; nil: in English
	requests []saml.AuthnRequest
}

// AuthnRequests returns every AuthnRequest the IdP received, oldest first.
func (i *SAMLIdP) AuthnRequests() []saml.AuthnRequest {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]saml.AuthnRequest(nil), i.requests...)
}

// NewSAMLIdP starts an IdP whose user is session (NameID, email, groups...).
func NewSAMLIdP(now func() time.Time, key *rsa.PrivateKey, cert *x509.Certificate, session saml.Session) *SAMLIdP {
	return NewSAMLIdPOn("", now, key, cert, session)
}

// NewSAMLIdPOn is NewSAMLIdP listening on addr if it is free (the demo keeps
// its entity ID across restarts), else on any free loopback port.
func NewSAMLIdPOn(addr string, now func() time.Time, key *rsa.PrivateKey, cert *x509.Certificate, session saml.Session) *SAMLIdP {
	mux := http.NewServeMux()
	i := &SAMLIdP{Key: key, Cert: cert, sps: map[string]*saml.EntityDescriptor{}, session: session, now: now, mux: mux}
	i.Server = serverOn(addr, mux)
	base, _ := url.Parse(i.Server.URL)
	i.IdP = &saml.IdentityProvider{
		Key:                     key,
		Certificate:             cert,
		MetadataURL:             *base.JoinPath("metadata"),
		SSOURL:                  *base.JoinPath("sso"),
		LogoutURL:               *base.JoinPath("slo"),
		ServiceProviderProvider: i,
		SessionProvider:         i,
		SignatureMethod:         dsig.RSASHA256SignatureMethod,
		Clock:                   dsig.NewFakeClock(nowClock{Clock: clockwork.NewRealClock(), now: now}),
		WantAuthnRequestsSigned: true,
		RejectSHA1Signatures:    true,
		LogoutBindings:          []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding},
	}
	mux.HandleFunc("/metadata", i.IdP.ServeMetadata)
	mux.HandleFunc("/sso", i.IdP.ServeSSO)
	mux.HandleFunc("/slo", func(w http.ResponseWriter, r *http.Request) {
		i.SLOHits.Add(1)
		i.IdP.ServeSLO(w, r)
	})
	return i
}

// SetUsers makes /sso show a "pick who you are" page offering these people
// (the demo); a chosen person replaces the fixed session for that sign-in.
func (i *SAMLIdP) SetUsers(users ...saml.Session) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.users = users
}

// SetPickPage makes page write the pick page SetUsers asks for.
func (i *SAMLIdP) SetPickPage(page PickPage) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.pickPage = page
}

// InvalidateSession implements saml.SessionInvalidator: sessions are not kept,
// so a valid LogoutRequest always succeeds.
func (i *SAMLIdP) InvalidateSession(http.ResponseWriter, *http.Request, *saml.IdpLogoutRequest) error {
	return nil
}

// Close stops the server.
func (i *SAMLIdP) Close() { i.Server.Close() }

// Handle serves h at pattern besides the IdP's own endpoints (the demo's
// assertion minting).
func (i *SAMLIdP) Handle(pattern string, h http.Handler) { i.mux.Handle(pattern, h) }

// MintAssertion returns a signed assertion about session for the registered SP
// spEntityID, unsolicited (no InResponseTo), as a bearer assertion presented at
// recipient (RFC 7522 §3: Recipient is the token endpoint) and valid for
// validity: crewjam's own assertion maker and signer build it, as for /sso. It
// is never encrypted: an RFC 8693 §3 saml2 token is a saml:Assertion. r is the
// request asking for it (its remote address goes into SubjectLocality).
func (i *SAMLIdP) MintAssertion(r *http.Request, spEntityID, recipient string, session saml.Session, validity time.Duration) ([]byte, error) {
	sp, err := i.GetServiceProvider(r, spEntityID)
	if err != nil {
		return nil, err
	}
	if len(sp.SPSSODescriptors) == 0 {
		return nil, errors.New("providertest: the SP metadata has no SPSSODescriptor")
	}
	// Signing keys only: crewjam encrypts to the SP's encryption key if it has one.
	desc := sp.SPSSODescriptors[0]
	desc.KeyDescriptors = nil
	now := i.now()
	session.CreateTime = now
	req := &saml.IdpAuthnRequest{IDP: i.IdP, HTTPRequest: r, ServiceProviderMetadata: sp, SPSSODescriptor: &desc,
		ACSEndpoint: &saml.IndexedEndpoint{Binding: saml.HTTPPostBinding, Location: recipient}, Now: now}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, &session); err != nil {
		return nil, err
	}
	// crewjam's windows are MaxIssueDelay, for a Response posted at once; a
	// bearer assertion for exchange may say more (an SP built on crewjam still
	// takes it only within MaxIssueDelay of its IssueInstant).
	req.Assertion.Conditions.NotOnOrAfter = now.Add(validity)
	req.Assertion.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = now.Add(validity)
	if err := req.MakeAssertionEl(); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.AssertionEl)
	return doc.WriteToBytes()
}

// Metadata returns the IdP metadata XML.
func (i *SAMLIdP) Metadata() []byte {
	b, err := xml.Marshal(i.IdP.Metadata())
	if err != nil {
		panic(err)
	}
	return b
}

// AddSP registers an SP by its metadata XML.
func (i *SAMLIdP) AddSP(md []byte) error {
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(md, &ed); err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.sps[ed.EntityID] = &ed
	return nil
}

// SetSession changes the signed-in user.
func (i *SAMLIdP) SetSession(s saml.Session) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.session = s
}

// GetServiceProvider implements saml.ServiceProviderProvider.
func (i *SAMLIdP) GetServiceProvider(_ *http.Request, id string) (*saml.EntityDescriptor, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if ed, ok := i.sps[id]; ok {
		return ed, nil
	}
	return nil, os.ErrNotExist
}

// GetSession implements saml.SessionProvider: the user is always signed in,
// and signs in again (AuthnInstant now) when the request has ForceAuthn.
func (i *SAMLIdP) GetSession(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest) *saml.Session {
	i.mu.Lock()
	i.requests = append(i.requests, req.Request)
	users := i.users
	page := i.pickPage
	s := i.session
	i.mu.Unlock()
	if f := req.Request.ForceAuthn; f != nil && *f && !i.IgnoreForceAuthn.Load() {
		s.CreateTime = i.now()
	}
	if len(users) == 0 {
		return &s
	}
	n, err := strconv.Atoi(r.URL.Query().Get("user"))
	if err != nil || n < 0 || n >= len(users) || r.Method != http.MethodGet {
		var labels []string
		for _, u := range users {
			labels = append(labels, u.UserCommonName+" ("+u.UserEmail+")")
		}
		writePickPage(w, r, page, "Demo SAML identity provider", labels)
		return nil
	}
	s = users[n]
	return &s
}
