package saml

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"html"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// roundTrip signs in through the crewjam IdP, which signs the assertion and
// encrypts it to the SP's key, and completes the response.
func (e *env) roundTrip(t *testing.T) (providers.Identity, error) {
	t.Helper()
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
	doc, _ := base64.StdEncoding.DecodeString(html.UnescapeString(string(m[1])))
	if !strings.Contains(string(doc), "EncryptedAssertion") {
		t.Fatalf("the IdP's assertion is not encrypted: %s", doc)
	}
	return e.use(e.p.Complete(context.Background(), post(html.UnescapeString(string(m[1]))), pending))
}

// addSubjectIdentifier returns an Edit adding an identifier element of tag
// next to the Subject's NameID.
func addSubjectIdentifier(tag, text string) func(*etree.Element) {
	return func(a *etree.Element) {
		sub := a.SelectElement("Subject")
		el := sub.SelectElement("NameID").Copy()
		el.Space, el.Tag = "saml", tag
		el.Attr = nil
		el.SetText(text)
		sub.InsertChildAt(1, el)
	}
}

// addAttribute returns an Edit adding another saml:Attribute called name.
func addAttribute(name string, values ...string) func(*etree.Element) {
	return func(a *etree.Element) {
		at := a.SelectElement("AttributeStatement").CreateElement("saml:Attribute")
		at.CreateAttr("Name", name)
		for _, v := range values {
			at.CreateElement("saml:AttributeValue").SetText(v)
		}
	}
}

// TestSAMLOneIdentityPerAssertion: a verified assertion naming two
// principals (two Subjects, two identifiers in one, two different values of
// an attribute the mapping reads for subject, email or name) is refused
// rather than read as its first or last; identical repeats and several
// values of other attributes are accepted.
func TestSAMLOneIdentityPerAssertion(t *testing.T) {
	e := newEnv(t)
	twoSubjects := func(a *etree.Element) {
		sub := a.SelectElement("Subject")
		evil := sub.Copy()
		evil.FindElement("./NameID").SetText("alice@corp.example")
		a.InsertChildAt(sub.Index()+1, evil)
	}
	for name, tc := range map[string]struct {
		edit       func(*etree.Element)
		attrs      map[string][]string
		signedResp bool
	}{
		"two Subjects":                         {edit: twoSubjects},
		"two Subjects, only Response signed":   {edit: twoSubjects, signedResp: true},
		"two NameIDs":                          {edit: addSubjectIdentifier("NameID", "alice@corp.example")},
		"NameID and EncryptedID":               {edit: addSubjectIdentifier("EncryptedID", "")},
		"NameID and BaseID":                    {edit: addSubjectIdentifier("BaseID", "")},
		"mail in two Attributes":               {edit: addAttribute("mail", "alice@corp.example")},
		"mail with two AttributeValues":        {attrs: map[string][]string{"mail": {"mallory@corp.example", "alice@corp.example"}}},
		"mail twice, one only Response signed": {edit: addAttribute("mail", "alice@corp.example"), signedResp: true},
		"displayName with two values":          {attrs: map[string][]string{"mail": {"mallory@corp.example"}, "displayName": {"Mallory", "Alice"}}},
		"sn with two values":                   {attrs: map[string][]string{"mail": {"mallory@corp.example"}, "sn": {"M", "A"}}},
	} {
		t.Run(name, func(t *testing.T) {
			reqID, pending, _ := e.begin(t)
			a := e.assertion(reqID)
			a.Edit = tc.edit
			if tc.attrs != nil {
				a.Attributes = tc.attrs
			}
			var doc *etree.Document
			if tc.signedResp {
				doc = providertest.BuildResponse(e.response(reqID), providertest.BuildAssertion(a))
				e.signer.Sign(doc.Root())
			} else {
				doc = providertest.BuildResponse(e.response(reqID), e.signer.Sign(providertest.BuildAssertion(a)))
			}
			before := len(e.replay.m)
			id, err := e.complete(doc, pending)
			refused(t, id, err, providers.ErrInvalidResponse)
			if len(e.replay.m) != before {
				t.Fatal("replay keys recorded for a refused response")
			}
		})
	}
	for name, edit := range map[string]func(*etree.Element){
		"the same mail in two Attributes": addAttribute("mail", "mallory@corp.example"),
		"several groups":                  addAttribute("groups", "staff", "admins"),
	} {
		t.Run("accepted: "+name, func(t *testing.T) {
			reqID, pending, _ := e.begin(t)
			doc := e.signedDoc(reqID, func(a *providertest.Assertion) { a.Edit = edit })
			id, err := e.complete(doc, pending)
			if err != nil || id.Subject != "mallory@corp.example" || id.Email != "mallory@corp.example" {
				t.Fatalf("%+v %v", id, err)
			}
		})
	}
	t.Run("encrypted assertion with two emails", func(t *testing.T) {
		e := newEnv(t)
		e.idp.SetSession(crewjam.Session{ID: "s", NameID: "alice@corp.example", NameIDFormat: string(crewjam.EmailAddressNameIDFormat),
			UserEmail: "alice@corp.example", CreateTime: t0.Add(-time.Minute), ExpireTime: t0.Add(time.Hour),
			CustomAttributes: []crewjam.Attribute{{Name: "urn:oid:0.9.2342.19200300.100.1.3",
				Values: []crewjam.AttributeValue{{Type: "xs:string", Value: "boss@corp.example"}}}}})
		id, err := e.roundTrip(t)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
}

// TestSAMLSignatureTransforms: a signature (on the Assertion or the
// Response) with a transform other than enveloped-signature and exclusive
// c14n is refused before it is verified.
func TestSAMLSignatureTransforms(t *testing.T) {
	e := newEnv(t)
	inclusive := e.signer
	inclusive.Canonicalizer = dsig.MakeC14N10RecCanonicalizer()
	addTransform := func(alg string) func(*etree.Element) {
		return func(signed *etree.Element) {
			t := signed.FindElement("./Signature/SignedInfo/Reference/Transforms").CreateElement("ds:Transform")
			t.CreateAttr("Algorithm", alg)
		}
	}
	for name, build := range map[string]func(reqID string) *etree.Document{
		"inclusive c14n on the Assertion": func(reqID string) *etree.Document {
			return providertest.BuildResponse(e.response(reqID), inclusive.Sign(providertest.BuildAssertion(e.assertion(reqID))))
		},
		"inclusive c14n on the Response": func(reqID string) *etree.Document {
			doc := providertest.BuildResponse(e.response(reqID), providertest.BuildAssertion(e.assertion(reqID)))
			inclusive.Sign(doc.Root())
			return doc
		},
		"XPath": func(reqID string) *etree.Document {
			doc := e.signedDoc(reqID)
			addTransform("http://www.w3.org/TR/1999/REC-xpath-19991116")(assertionOf(doc))
			return doc
		},
		"XSLT on the Response": func(reqID string) *etree.Document {
			doc := e.signedDoc(reqID)
			e.signer.Sign(doc.Root())
			addTransform("http://www.w3.org/TR/1999/REC-xslt-19991116")(doc.Root())
			return doc
		},
	} {
		t.Run(name, func(t *testing.T) {
			reqID, pending, _ := e.begin(t)
			id, err := e.complete(build(reqID), pending)
			refused(t, id, err, providers.ErrInvalidResponse)
			if !errors.Is(err, errTransform) {
				t.Fatalf("refused, but not for its transform: %v", err)
			}
		})
	}
	t.Run("accepted: exclusive c14n with comments", func(t *testing.T) {
		s := e.signer
		s.Canonicalizer = dsig.MakeC14N10ExclusiveWithCommentsCanonicalizerWithPrefixList("")
		reqID, pending, _ := e.begin(t)
		doc := providertest.BuildResponse(e.response(reqID), s.Sign(providertest.BuildAssertion(e.assertion(reqID))))
		if _, err := e.complete(doc, pending); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSAMLDocumentEncoding: a decoded SAMLResponse (or an assertion given to
// token exchange) that is not plain UTF-8 is refused.
func TestSAMLDocumentEncoding(t *testing.T) {
	e := newEnv(t)
	for name, tc := range map[string]struct {
		prefix, decl string
		refuse       bool
	}{
		"UTF-8 byte-order mark":       {prefix: "\xEF\xBB\xBF", refuse: true},
		"UTF-16 byte-order mark":      {prefix: "\xFF\xFE", refuse: true},
		"ISO-8859-1 declared":         {decl: `<?xml version="1.0" encoding="ISO-8859-1"?>`, refuse: true},
		"UTF-16 declared":             {decl: `<?xml version='1.0' encoding='UTF-16'?>`, refuse: true},
		"invalid UTF-8 in a comment":  {decl: "<!--\xff\xfe-->", refuse: true},
		"accepted: UTF-8 declared":    {decl: `<?xml version="1.0" encoding="utf-8"?>`},
		"accepted: no encoding named": {decl: `<?xml version="1.0"?>`},
	} {
		t.Run(name, func(t *testing.T) {
			reqID, pending, _ := e.begin(t)
			signed, _ := e.signedDoc(reqID).WriteToString()
			enc := base64.StdEncoding.EncodeToString([]byte(tc.prefix + tc.decl + signed))
			id, err := e.use(e.p.Complete(context.Background(), post(enc), pending))
			if !tc.refuse {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
	t.Run("token exchange assertion with a byte-order mark", func(t *testing.T) {
		const tokenURL = "https://gatehouse.test/token"
		a := e.assertion("")
		a.InResponseTo, a.Recipient = "", tokenURL
		raw, _ := elementBytes(e.signer.Sign(providertest.BuildAssertion(a)))
		tp := providers.TokenParams{Recipient: tokenURL}
		tp.Token = base64.RawURLEncoding.EncodeToString(append([]byte("\xEF\xBB\xBF"), raw...))
		id, err := e.use(e.p.VerifyToken(context.Background(), tp))
		refused(t, id, err, providers.ErrInvalidResponse)
		tp.Token = base64.RawURLEncoding.EncodeToString(raw)
		if _, err := e.use(e.p.VerifyToken(context.Background(), tp)); err != nil {
			t.Fatalf("positive control: %v", err)
		}
	})
}

// TestSPMetadataValidity: SP metadata is valid for Config.SPMetadataValidity
// (default 30 days) and asks IdPs to refetch it daily (saml-metadata §2.3.2).
func TestSPMetadataValidity(t *testing.T) {
	for name, tc := range map[string]struct {
		validity, want time.Duration
	}{
		"default":    {0, 30 * 24 * time.Hour},
		"configured": {90 * 24 * time.Hour, 90 * 24 * time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.SPMetadataValidity = tc.validity })
			b, _, err := e.p.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			var md crewjam.EntityDescriptor
			if err := xml.Unmarshal(b, &md); err != nil {
				t.Fatal(err)
			}
			sp := md.SPSSODescriptors[0]
			if !md.ValidUntil.Equal(t0.Add(tc.want)) || sp.ValidUntil == nil || !sp.ValidUntil.Equal(t0.Add(tc.want)) {
				t.Errorf("validUntil %s (role %v), want %s", md.ValidUntil, sp.ValidUntil, t0.Add(tc.want))
			}
			if md.CacheDuration != 24*time.Hour || !strings.Contains(string(b), `cacheDuration="PT24H"`) {
				t.Errorf("cacheDuration %s:\n%s", md.CacheDuration, b)
			}
		})
	}
	for _, bad := range []time.Duration{-time.Hour, time.Hour, 11 * 365 * 24 * time.Hour} {
		cfg := newEnv(t).p.cfg
		cfg.SPMetadataValidity = bad
		if err := cfg.Validate(); !errors.Is(err, providers.ErrConfig) {
			t.Errorf("validity %s: %v", bad, err)
		}
	}
}

// TestSAMLEmailsVerified: the IdP's email counts as verified only when the
// provider is configured so (SAML has no attribute saying it).
func TestSAMLEmailsVerified(t *testing.T) {
	for _, verified := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.EmailsVerified = verified })
		id, err := e.roundTrip(t)
		if err != nil {
			t.Fatal(err)
		}
		if id.Email != "alice@corp.example" || id.EmailVerified != verified {
			t.Errorf("EmailsVerified %v: email %q verified %v", verified, id.Email, id.EmailVerified)
		}
	}
	t.Run("no email, nothing verified", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.EmailsVerified = true })
		reqID, pending, _ := e.begin(t)
		id, err := e.complete(e.signedDoc(reqID, func(a *providertest.Assertion) {
			a.Attributes = map[string][]string{"displayName": {"Mallory"}}
		}), pending)
		if err != nil || id.Email != "" || id.EmailVerified {
			t.Fatalf("%+v %v", id, err)
		}
	})
}

// TestSAML37_ErrorStatusWithoutAssertion: an IdP's error response, which
// has no assertion and is often unsigned, is reported as the IdP's refusal
// with its most specific status code, not as a malformed response.
func TestSAML37_ErrorStatusWithoutAssertion(t *testing.T) {
	e := newEnv(t)
	for sub, want := range map[string]string{"": crewjam.StatusResponder, crewjam.StatusRequestDenied: crewjam.StatusRequestDenied} {
		reqID, pending, _ := e.begin(t)
		r := e.response(reqID)
		r.Status, r.SubStatus = crewjam.StatusResponder, sub
		id, err := e.complete(providertest.BuildResponse(r), pending)
		refused(t, id, err, providers.ErrUpstream)
		var up *providers.UpstreamError
		if !errors.As(err, &up) || up.Code != want {
			t.Errorf("code %v, want %s", err, want)
		}
	}
	reqID, pending, _ := e.begin(t)
	id, err := e.complete(providertest.BuildResponse(e.response(reqID)), pending)
	refused(t, id, err, providers.ErrInvalidResponse) // Success without an assertion
}
