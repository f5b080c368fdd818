package saml

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/providers"
)

const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	// maxDepth bounds element nesting before etree builds a tree (SAML-43);
	// a real Response is about ten deep.
	maxDepth = 64
)

// readResponse extracts and decodes SAMLResponse from the POST body,
// refusing oversized input before base64 or XML decoding (SAML-44) and
// the artifact and SimpleSign bindings (not offered in our metadata).
func (p *Provider) readResponse(r *http.Request) ([]byte, error) {
	if r.Method != http.MethodPost {
		return nil, providers.Invalid("ACS method %s", r.Method)
	}
	maxEncoded := int64(p.cfg.MaxResponseBytes)*4/3 + 4096
	form := r.PostForm
	if form == nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxEncoded+1))
		if err != nil {
			return nil, providers.Invalid("reading body: %v", err)
		}
		if int64(len(body)) > maxEncoded {
			return nil, providers.Invalid("request body larger than %d bytes", maxEncoded)
		}
		if form, err = url.ParseQuery(string(body)); err != nil {
			return nil, providers.Invalid("form: %v", err)
		}
	}
	for _, k := range []string{"SAMLart", "SigAlg", "Signature"} {
		if form.Has(k) {
			return nil, providers.Invalid("binding parameter %s not accepted", k)
		}
	}
	vs := form["SAMLResponse"]
	if len(vs) != 1 {
		return nil, providers.Invalid("expected one SAMLResponse, got %d", len(vs))
	}
	if int64(len(vs[0])) > maxEncoded {
		return nil, providers.Invalid("SAMLResponse larger than %d bytes", p.cfg.MaxResponseBytes)
	}
	doc, err := base64.StdEncoding.DecodeString(strings.TrimSpace(vs[0]))
	if err != nil {
		return nil, providers.Invalid("SAMLResponse is not base64")
	}
	if len(doc) > p.cfg.MaxResponseBytes {
		return nil, providers.Invalid("SAMLResponse larger than %d bytes", p.cfg.MaxResponseBytes)
	}
	return doc, nil
}

// checkStructure refuses, before crewjam sees the document: anything but
// plain UTF-8 (checkEncoding), a DTD (SAML-40,
// SAML-41), deep nesting (SAML-43), a root that is not samlp:Response, and
// anything but exactly one saml:Assertion or saml:EncryptedAssertion in the
// whole document, as a direct child of the Response. crewjam returns the
// first assertion that validates in a signed Response (SAML-09), and every
// XML signature wrapping variant (SAML-01…06) needs a second Assertion or a
// relocated one. Duplicate ID attributes are refused too (SAML-15).
func checkStructure(doc []byte) error {
	if err := checkEncoding(doc); err != nil {
		return err
	}
	if err := refuseDTD(doc); err != nil {
		return providers.Invalid("%v", err)
	}
	dec := xml.NewDecoder(bytes.NewReader(doc))
	depth := 0
	for {
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return providers.Invalid("malformed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth++; depth > maxDepth {
				return providers.Invalid("XML nested deeper than %d", maxDepth)
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return providers.Invalid("XML directive not allowed")
		case xml.ProcInst:
			if t.Target != "xml" {
				return providers.Invalid("XML processing instruction not allowed")
			}
		}
	}
	tree := etree.NewDocument()
	if err := tree.ReadFromBytes(doc); err != nil {
		return providers.Invalid("malformed XML: %v", err)
	}
	root := tree.Root()
	if root == nil || root.Tag != "Response" || root.NamespaceURI() != nsProtocol {
		return providers.Invalid("root element is not samlp:Response")
	}
	var assertions, direct int
	ids := map[string]bool{}
	var walk func(el *etree.Element) error
	walk = func(el *etree.Element) error {
		for _, a := range el.Attr {
			if a.Key == "ID" && a.Space == "" {
				if ids[a.Value] {
					return providers.Invalid("duplicate ID %q", a.Value)
				}
				ids[a.Value] = true
			}
		}
		if (el.Tag == "Assertion" || el.Tag == "EncryptedAssertion") && el.NamespaceURI() == nsAssertion {
			assertions++
			if el.Parent() == root {
				direct++
			}
		}
		for _, c := range el.ChildElements() {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return err
	}
	if assertions == 0 && errorStatus(root) {
		// saml-core §3.2.2: an IdP's error response (RequestDenied, NoPassive...)
		// carries no assertion; crewjam checks it and reports its status.
		return nil
	}
	if assertions != 1 || direct != 1 {
		return providers.Invalid("expected exactly one Assertion in the Response, found %d (%d direct)", assertions, direct)
	}
	return nil
}

// checkAssertion adds Gatehouse's checks to crewjam's validation.
func (p *Provider) checkAssertion(a *crewjam.Assertion, now time.Time) error {
	if p.cfg.RequireSignedAssertion && a.Signature == nil {
		return providers.Invalid("assertion is not signed")
	}
	// Config.ClockSkew may be tighter than crewjam's global MaxClockSkew,
	// which has already been applied (saml-core §2.5.1.2).
	skew := p.cfg.ClockSkew
	if c := a.Conditions; c != nil {
		if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(skew)) {
			return providers.Invalid("assertion not yet valid")
		}
		if !c.NotOnOrAfter.IsZero() && !now.Before(c.NotOnOrAfter.Add(skew)) {
			return providers.Invalid("assertion expired")
		}
	}
	if a.Subject == nil || a.Subject.NameID == nil {
		return providers.Invalid("assertion has no NameID")
	}
	return nil
}

// logoutState is Identity.LogoutState for SAML.
type logoutState struct {
	NameID          string `json:"n"`
	Format          string `json:"f,omitempty"`
	NameQualifier   string `json:"q,omitempty"`
	SPNameQualifier string `json:"s,omitempty"`
	SessionIndex    string `json:"i,omitempty"`
}

// identity builds the Identity from a validated assertion.
func (p *Provider) identity(a *crewjam.Assertion) (providers.Identity, error) {
	nameID := a.Subject.NameID
	claims := map[string]any{
		providers.NameIDClaim:       nameID.Value,
		providers.NameIDFormatClaim: nameID.Format,
		"saml:Issuer":               a.Issuer.Value,
	}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			if at.Name == "" || strings.HasPrefix(at.Name, "saml:") {
				continue
			}
			vals, _ := claims[at.Name].([]string)
			for _, v := range at.Values {
				vals = append(vals, v.Value)
			}
			claims[at.Name] = vals
		}
	}
	// A transient NameID changes at every login (saml-core §8.3.8), so it
	// never serves as the subject: only mapped attributes can.
	m := p.cfg.Mapping
	if err := checkClaims(claims, identityNames(m)); err != nil {
		return providers.Identity{}, err
	}
	// Config.EmailsVerified: the admin vouches for this IdP's addresses;
	// SAML has no standard attribute saying an address was verified.
	m.AssumeEmailVerified = m.AssumeEmailVerified || p.cfg.EmailsVerified
	if nameID.Format == string(crewjam.TransientNameIDFormat) {
		m.Subject = slices.DeleteFunc(slices.Clone(m.Subject), func(s string) bool { return s == providers.NameIDClaim })
	}
	id, err := m.Apply(p.cfg.ID, claims)
	if err != nil {
		return providers.Identity{}, err
	}
	ls := logoutState{NameID: nameID.Value, Format: nameID.Format, NameQualifier: nameID.NameQualifier, SPNameQualifier: nameID.SPNameQualifier}
	if len(a.AuthnStatements) > 0 {
		st := a.AuthnStatements[0]
		id.AuthTime = st.AuthnInstant.UTC()
		ls.SessionIndex = st.SessionIndex
		if st.AuthnContext.AuthnContextClassRef != nil {
			id.ACR = st.AuthnContext.AuthnContextClassRef.Value
		}
	}
	id.LogoutState, _ = json.Marshal(ls)
	id.LogoutKey = logoutKey(nameID.Value)
	return id, nil
}

func elementBytes(el *etree.Element) ([]byte, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el)
	return doc.WriteToBytes()
}
