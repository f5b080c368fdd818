package saml

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse/gatehouse/providers"
)

// checkEncoding refuses a decoded document that is not plain UTF-8: a
// byte-order mark, invalid UTF-8 anywhere (comments included, which the
// XML decoder does not check), or an XML declaration naming another
// encoding. SAML messages are UTF-8 in practice, and etree reads every
// document as UTF-8 whatever it declares, so a document another parser
// would read differently is refused rather than guessed at (XML 1.0 §4.3.3).
func checkEncoding(doc []byte) error {
	for _, bom := range [][]byte{{0xEF, 0xBB, 0xBF}, {0xFE, 0xFF}, {0xFF, 0xFE}} {
		if bytes.HasPrefix(doc, bom) {
			return providers.Invalid("document starts with a byte-order mark")
		}
	}
	if !utf8.Valid(doc) {
		return providers.Invalid("document is not valid UTF-8")
	}
	if !bytes.HasPrefix(doc, []byte("<?xml")) {
		return nil
	}
	end := bytes.Index(doc, []byte("?>"))
	if end < 0 {
		return providers.Invalid("unterminated XML declaration")
	}
	if enc := declAttr(string(doc[len("<?xml"):end]), "encoding"); enc != "" && !strings.EqualFold(enc, "UTF-8") {
		return providers.Invalid("XML declaration names encoding %q, not UTF-8", enc)
	}
	return nil
}

// declAttr returns the pseudo-attribute name of an XML declaration's text.
func declAttr(inst, name string) string {
	i := strings.Index(inst, name)
	if i < 0 {
		return ""
	}
	rest := strings.TrimLeft(inst[i+len(name):], " \t\r\n")
	if !strings.HasPrefix(rest, "=") {
		return ""
	}
	rest = strings.TrimLeft(rest[1:], " \t\r\n")
	if rest == "" || (rest[0] != '"' && rest[0] != '\'') {
		return ""
	}
	q := rest[0]
	if j := strings.IndexByte(rest[1:], q); j >= 0 {
		return rest[1 : 1+j]
	}
	return ""
}

// allowedTransforms are the only Reference transforms accepted: those
// saml-core §5.4.4 names (enveloped signature, exclusive canonicalization
// with or without comments). Anything else (XPath, XSLT, inclusive c14n)
// is refused before goxmldsig runs it.
var allowedTransforms = map[string]bool{
	"http://www.w3.org/2000/09/xmldsig#enveloped-signature": true,
	"http://www.w3.org/2001/10/xml-exc-c14n#":               true,
	"http://www.w3.org/2001/10/xml-exc-c14n#WithComments":   true,
}

// errTransform is wrapped by the refusal of a transform not allowed.
var errTransform = errors.New("signature transform not allowed")

// checkTransforms checks every Transform of the Signature of el, the
// element a signature is about to be verified on.
func checkTransforms(el *etree.Element) error {
	for _, sig := range el.ChildElements() {
		if sig.Tag != "Signature" {
			continue
		}
		for _, ref := range sig.FindElements("./SignedInfo/Reference") {
			for _, ts := range ref.SelectElements("Transforms") {
				for _, t := range ts.ChildElements() {
					algs := 0
					for _, a := range t.Attr {
						if a.Key != "Algorithm" {
							continue
						}
						algs++
						if !allowedTransforms[a.Value] || a.Space != "" {
							return fmt.Errorf("%w: %q", errTransform, a.Value)
						}
					}
					if t.Tag != "Transform" || algs != 1 {
						return fmt.Errorf("%w: %s element", errTransform, t.FullTag())
					}
				}
			}
		}
	}
	return nil
}

// transformVerifier is the ServiceProvider's SignatureVerifier: crewjam
// calls it for every enveloped XML signature it checks (Response,
// Assertion, one inside an EncryptedAssertion, logout messages), with the
// certificates it trusts in vc. It checks the transforms first, then
// verifies as crewjam does without a SignatureVerifier.
type transformVerifier struct{}

var _ crewjam.SignedElementVerifier = transformVerifier{}

func (v transformVerifier) VerifySignature(vc *dsig.ValidationContext, el *etree.Element) error {
	_, err := v.VerifySignedElement(vc, el)
	return err
}

func (transformVerifier) VerifySignedElement(vc *dsig.ValidationContext, el *etree.Element) (*etree.Element, error) {
	if err := checkTransforms(el); err != nil {
		return nil, err
	}
	// As crewjam does: without a certificate in KeyInfo, goxmldsig can pick
	// the key only if it trusts exactly one, so an IdP that lists several
	// during a key rollover (SAML-48) is tried one certificate at a time.
	store, ok := vc.CertificateStore.(*dsig.MemoryX509CertificateStore)
	if !ok || len(store.Roots) < 2 || el.FindElement("./Signature/KeyInfo/X509Data/X509Certificate") != nil {
		return vc.Validate(el)
	}
	var err error
	for _, cert := range store.Roots {
		one := *vc
		one.CertificateStore = &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}}
		var signed *etree.Element
		if signed, err = one.Validate(el); err == nil {
			return signed, nil
		}
	}
	return nil, err
}

// checkIdentifiers refuses an ambiguous verified assertion: more than one
// Subject, a Subject with more than one identifier (NameID, EncryptedID,
// BaseID: saml-core §2.4.1 allows one), or an identity-defining attribute
// (names) with different values, whether in several Attribute elements or
// several AttributeValues. crewjam's parsed Assertion keeps only one
// Subject and NameID, so this reads the XML itself: Gatehouse never takes
// the first or the last of two identities.
func checkIdentifiers(assertion *etree.Element, names map[string]bool) error {
	subjects := 0
	values := map[string]map[string]bool{}
	for _, c := range assertion.ChildElements() {
		switch {
		case c.Tag == "Subject":
			subjects++
			ids := 0
			for _, s := range c.ChildElements() {
				switch s.Tag {
				case "NameID", "EncryptedID", "BaseID":
					ids++
				}
			}
			if ids > 1 {
				return providers.Invalid("assertion Subject has %d identifiers", ids)
			}
		case c.Tag == "AttributeStatement" && c.NamespaceURI() == nsAssertion:
			for _, at := range c.ChildElements() {
				name, ok := attrName(at)
				if at.Tag != "Attribute" || at.NamespaceURI() != nsAssertion || !ok || !names[name] {
					continue
				}
				if values[name] == nil {
					values[name] = map[string]bool{}
				}
				for _, v := range at.ChildElements() {
					if v.Tag == "AttributeValue" && v.NamespaceURI() == nsAssertion {
						values[name][textOf(v)] = true
					}
				}
			}
		}
	}
	if subjects > 1 {
		return providers.Invalid("assertion has %d Subjects", subjects)
	}
	for name, vs := range values {
		if len(vs) > 1 {
			return providers.Invalid("attribute %q has %d different values", name, len(vs))
		}
	}
	return nil
}

// attrName is the unqualified Name attribute of a saml:Attribute, the one
// crewjam reads; ok is false if there is none or more than one.
func attrName(at *etree.Element) (string, bool) {
	var name string
	n := 0
	for _, a := range at.Attr {
		if a.Key == "Name" {
			n++
			name = a.Value
		}
	}
	return name, n == 1
}

// textOf is el's character data as encoding/xml reads it into crewjam's
// AttributeValue: every text child, comments left out (SAML-18).
func textOf(el *etree.Element) string {
	var b strings.Builder
	for _, t := range el.Child {
		if cd, ok := t.(*etree.CharData); ok {
			b.WriteString(cd.Data)
		}
	}
	return b.String()
}

// identityNames are the attribute names the mapping reads for the subject,
// email and name: an assertion giving one of them two values is ambiguous.
func identityNames(m providers.Mapping) map[string]bool {
	names := map[string]bool{}
	for _, l := range [][]string{m.Subject, m.Email, m.EmailVerified, m.Name, m.GivenName, m.FamilyName} {
		for _, n := range l {
			if !strings.HasPrefix(n, "saml:") {
				names[n] = true
			}
		}
	}
	return names
}

// checkClaims is checkIdentifiers' attribute rule on the claims built from
// crewjam's assertion, which hold attributes that were encrypted too.
func checkClaims(claims map[string]any, names map[string]bool) error {
	for n := range names {
		distinct := map[string]bool{}
		for _, v := range providers.StringValues(claims[n]) {
			distinct[v] = true
		}
		if len(distinct) > 1 {
			return providers.Invalid("attribute %q has %d different values", n, len(distinct))
		}
	}
	return nil
}

// verifiedAssertion returns the assertion element of xmlDoc, a Response
// crewjam has accepted (checkStructure allowed exactly one assertion),
// decrypting an EncryptedAssertion with the SP key as crewjam did.
func (p *Provider) verifiedAssertion(xmlDoc []byte) (*etree.Element, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xmlDoc); err != nil || doc.Root() == nil {
		return nil, providers.Invalid("malformed XML")
	}
	for _, c := range doc.Root().ChildElements() {
		if c.NamespaceURI() != nsAssertion {
			continue
		}
		switch c.Tag {
		case "Assertion":
			return c, nil
		case "EncryptedAssertion":
			return p.decryptAssertion(c)
		}
	}
	return nil, providers.Invalid("no assertion")
}

// assertionEncrypted reports whether the assertion of xmlDoc, a Response
// checkStructure allowed (exactly one assertion, a child of the root), is a
// saml:EncryptedAssertion (saml-core §2.3.4).
func assertionEncrypted(xmlDoc []byte) bool {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xmlDoc); err != nil || doc.Root() == nil {
		return false
	}
	for _, c := range doc.Root().ChildElements() {
		if c.NamespaceURI() == nsAssertion && c.Tag == "EncryptedAssertion" {
			return true
		}
	}
	return false
}

// decryptAssertion decrypts enc, a saml:EncryptedAssertion crewjam has
// already decrypted and accepted: its content key in an EncryptedKey
// beside the EncryptedData or in its KeyInfo (saml-core §6.2).
func (p *Provider) decryptAssertion(enc *etree.Element) (*etree.Element, error) {
	data := enc.SelectElement("EncryptedData")
	if data == nil {
		return nil, providers.Invalid("EncryptedAssertion without EncryptedData")
	}
	var plain []byte
	err := errors.New("no EncryptedKey")
	if keys := enc.SelectElements("EncryptedKey"); len(keys) > 0 {
		for _, k := range keys {
			var ck []byte
			if ck, err = xmlenc.Decrypt(p.cfg.Key, k); err == nil {
				if plain, err = xmlenc.Decrypt(ck, data); err == nil {
					break
				}
			}
		}
	} else {
		plain, err = xmlenc.Decrypt(p.cfg.Key, data)
	}
	if err != nil {
		return nil, providers.Invalid("re-reading the encrypted assertion: %v", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(plain); err != nil || doc.Root() == nil {
		return nil, providers.Invalid("decrypted assertion is not XML")
	}
	return doc.Root(), nil
}

// withSubStatus puts the second-level StatusCode of xmlDoc, if any, into
// the *providers.UpstreamError err for a non-success status: saml-core
// §3.2.2.2 allows only Requester, Responder and VersionMismatch at the top,
// so an IdP's RequestDenied or AuthnFailed (access denied, a 403 for the
// person) is the code inside. crewjam reports only the top one.
func withSubStatus(err error, xmlDoc []byte) error {
	var up *providers.UpstreamError
	if !errors.As(err, &up) {
		return err
	}
	doc := etree.NewDocument()
	if doc.ReadFromBytes(xmlDoc) != nil || doc.Root() == nil {
		return err
	}
	if sc := doc.Root().FindElement("./Status/StatusCode/StatusCode"); sc != nil {
		if v := sc.SelectAttrValue("Value", ""); v != "" {
			up.Code = v
		}
	}
	return err
}

// errorStatus reports whether the Response root has a top-level StatusCode
// other than Success.
func errorStatus(root *etree.Element) bool {
	sc := root.FindElement("./Status/StatusCode")
	return sc != nil && sc.SelectAttrValue("Value", "") != crewjam.StatusSuccess
}
