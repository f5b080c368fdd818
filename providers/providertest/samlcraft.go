package providertest

import (
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// Namespaces of SAML 2.0 and XML-DSig.
const (
	NSProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	NSAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	NSDSig      = "http://www.w3.org/2000/09/xmldsig#"
)

// Assertion describes an assertion to build (harness H2). Zero times and
// strings are left out, so missing-element cases need no special knobs.
type Assertion struct {
	ID, Issuer, NameID, NameIDFormat  string
	Audience, Recipient, InResponseTo string
	SessionIndex                      string
	IssueInstant, NotBefore           time.Time
	NotOnOrAfter                      time.Time
	Attributes                        map[string][]string
	OmitIssuer, OmitSubject           bool
	OmitConditions                    bool
	// Edit, if set, changes the built element before it is signed: shapes
	// the fields cannot express (a second Subject, repeated Attributes).
	Edit func(assertion *etree.Element)
}

// Response describes the samlp:Response around it.
type Response struct {
	ID, Issuer, Destination, InResponseTo string
	IssueInstant                          time.Time
	Status                                string // default Success
	// SubStatus, if set, is a second-level StatusCode (saml-core §3.2.2.2).
	SubStatus string
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// BuildAssertion returns an unsigned saml:Assertion element.
func BuildAssertion(a Assertion) *etree.Element {
	el := etree.NewElement("saml:Assertion")
	el.CreateAttr("xmlns:saml", NSAssertion)
	el.CreateAttr("ID", a.ID)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", ts(a.IssueInstant))
	if !a.OmitIssuer {
		el.CreateElement("saml:Issuer").SetText(a.Issuer)
	}
	if !a.OmitSubject {
		sub := el.CreateElement("saml:Subject")
		n := sub.CreateElement("saml:NameID")
		if a.NameIDFormat != "" {
			n.CreateAttr("Format", a.NameIDFormat)
		}
		n.SetText(a.NameID)
		sc := sub.CreateElement("saml:SubjectConfirmation")
		sc.CreateAttr("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")
		scd := sc.CreateElement("saml:SubjectConfirmationData")
		if a.InResponseTo != "" {
			scd.CreateAttr("InResponseTo", a.InResponseTo)
		}
		scd.CreateAttr("NotOnOrAfter", ts(a.NotOnOrAfter))
		scd.CreateAttr("Recipient", a.Recipient)
	}
	if !a.OmitConditions {
		c := el.CreateElement("saml:Conditions")
		c.CreateAttr("NotBefore", ts(a.NotBefore))
		c.CreateAttr("NotOnOrAfter", ts(a.NotOnOrAfter))
		c.CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(a.Audience)
	}
	as := el.CreateElement("saml:AuthnStatement")
	as.CreateAttr("AuthnInstant", ts(a.IssueInstant))
	if a.SessionIndex != "" {
		as.CreateAttr("SessionIndex", a.SessionIndex)
	}
	as.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").
		SetText("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
	if len(a.Attributes) > 0 {
		st := el.CreateElement("saml:AttributeStatement")
		for name, vals := range a.Attributes {
			at := st.CreateElement("saml:Attribute")
			at.CreateAttr("Name", name)
			for _, v := range vals {
				av := at.CreateElement("saml:AttributeValue")
				av.SetText(v)
			}
		}
	}
	if a.Edit != nil {
		a.Edit(el)
	}
	return el
}

// BuildResponse returns a document with a samlp:Response holding assertions.
func BuildResponse(r Response, assertions ...*etree.Element) *etree.Document {
	el := etree.NewElement("samlp:Response")
	el.CreateAttr("xmlns:samlp", NSProtocol)
	el.CreateAttr("xmlns:saml", NSAssertion)
	el.CreateAttr("ID", r.ID)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", ts(r.IssueInstant))
	if r.Destination != "" {
		el.CreateAttr("Destination", r.Destination)
	}
	if r.InResponseTo != "" {
		el.CreateAttr("InResponseTo", r.InResponseTo)
	}
	el.CreateElement("saml:Issuer").SetText(r.Issuer)
	status := r.Status
	if status == "" {
		status = "urn:oasis:names:tc:SAML:2.0:status:Success"
	}
	sc := el.CreateElement("samlp:Status").CreateElement("samlp:StatusCode")
	sc.CreateAttr("Value", status)
	if r.SubStatus != "" {
		sc.CreateElement("samlp:StatusCode").CreateAttr("Value", r.SubStatus)
	}
	for _, a := range assertions {
		el.AddChild(a)
	}
	doc := etree.NewDocument()
	doc.SetRoot(el)
	return doc
}

// Signer signs SAML elements like an IdP (enveloped, exclusive c14n).
type Signer struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
	// SHA1 signs with rsa-sha1 and a sha1 digest (SAML-17).
	SHA1 bool
	// OmitCert leaves the certificate out of KeyInfo.
	OmitCert bool
	// Canonicalizer replaces exclusive c14n (as CanonicalizationMethod and
	// Reference transform), e.g. dsig.MakeC14N10RecCanonicalizer().
	Canonicalizer dsig.Canonicalizer
}

// Sign returns a signed copy of el with ds:Signature placed after Issuer
// (saml-core §5.4.1 schema order), replacing el in its parent if it has one.
func (s Signer) Sign(el *etree.Element) *etree.Element {
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{Certificate: [][]byte{s.Cert.Raw}, PrivateKey: s.Key}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if s.Canonicalizer != nil {
		ctx.Canonicalizer = s.Canonicalizer
	}
	method := dsig.RSASHA256SignatureMethod
	if s.SHA1 {
		method = dsig.RSASHA1SignatureMethod
		ctx.Hash = crypto.SHA1
	}
	if err := ctx.SetSignatureMethod(method); err != nil {
		panic(err)
	}
	parent, idx := el.Parent(), el.Index()
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		panic(err)
	}
	// SignEnveloped appends the Signature without setting its parent, so
	// remove it by index.
	sig := signed.Child[len(signed.Child)-1].(*etree.Element)
	signed.RemoveChildAt(len(signed.Child) - 1)
	if s.OmitCert {
		if ki := sig.FindElement("./KeyInfo"); ki != nil {
			sig.RemoveChild(ki)
		}
	}
	at := 0
	if iss := signed.SelectElement("Issuer"); iss != nil {
		at = iss.Index() + 1
	}
	signed.InsertChildAt(at, sig)
	if parent != nil {
		parent.RemoveChildAt(idx)
		parent.InsertChildAt(idx, signed)
	}
	return signed
}

// Encode serializes doc for the SAMLResponse form field.
func Encode(doc *etree.Document) string {
	b, err := doc.WriteToBytes()
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}
