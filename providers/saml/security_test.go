package saml

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// evil returns an unsigned assertion for alice answering reqID.
func (e *env) evil(reqID string) *etree.Element {
	a := e.assertion(reqID)
	a.ID, a.NameID = "_evil", "alice@corp.example"
	return providertest.BuildAssertion(a)
}

func assertionOf(doc *etree.Document) *etree.Element {
	return doc.Root().SelectElement("Assertion")
}

func TestSignatureWrapping(t *testing.T) {
	e := newEnv(t)
	for name, build := range e.wrappingCases() {
		t.Run(name, func(t *testing.T) {
			reqID, pending, _ := e.begin(t)
			id, err := e.complete(build(reqID), pending)
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
}

// wrappingCases are Responses, each to refuse, answering reqID with
// assertions built by e.assertion (for e.recipient): signature wrapping and
// the other assertion-level attacks of SECURITY.md §2. The token exchange
// tests present the assertions of the same Responses as tokens.
func (e *env) wrappingCases() map[string]func(reqID string) *etree.Document {
	return map[string]func(reqID string) *etree.Document{
		"SAML10 unsigned": func(reqID string) *etree.Document {
			return providertest.BuildResponse(e.response(reqID), e.evil(reqID))
		},
		"SAML11 response signed, assertion edited": func(reqID string) *etree.Document {
			doc := providertest.BuildResponse(e.response(reqID), providertest.BuildAssertion(e.assertion(reqID)))
			e.signer.Sign(doc.Root())
			assertionOf(doc).FindElement(".//NameID").SetText("alice@corp.example")
			return doc
		},
		"SAML01 XSW1 signed response nested in evil response's Signature": func(reqID string) *etree.Document {
			orig := providertest.BuildResponse(e.response(reqID), providertest.BuildAssertion(e.assertion(reqID)))
			signed := e.signer.Sign(orig.Root())
			evil := providertest.BuildResponse(e.response(reqID), e.evil(reqID))
			sig := signed.SelectElement("Signature").Copy()
			sig.AddChild(signed.Copy())
			evil.Root().InsertChildAt(1, sig)
			return evil
		},
		"SAML02 XSW2 signed response as detached sibling": func(reqID string) *etree.Document {
			orig := providertest.BuildResponse(e.response(reqID), providertest.BuildAssertion(e.assertion(reqID)))
			signed := e.signer.Sign(orig.Root())
			evil := providertest.BuildResponse(e.response(reqID), e.evil(reqID))
			evil.Root().InsertChildAt(1, signed.SelectElement("Signature").Copy())
			evil.Root().AddChild(signed.Copy())
			return evil
		},
		"SAML03 XSW3 evil assertion before signed one": func(reqID string) *etree.Document {
			doc := e.signedDoc(reqID)
			doc.Root().InsertChildAt(assertionOf(doc).Index(), e.evil(reqID))
			return doc
		},
		"SAML04 XSW4 evil assertion wraps signed one": func(reqID string) *etree.Document {
			doc := e.signedDoc(reqID)
			orig := assertionOf(doc)
			ev := e.evil(reqID)
			doc.Root().RemoveChild(orig)
			ev.AddChild(orig)
			doc.Root().AddChild(ev)
			return doc
		},
		"SAML06 XSW6 signed assertion inside evil copy's Signature": func(reqID string) *etree.Document {
			doc := e.signedDoc(reqID)
			orig := assertionOf(doc)
			ev := orig.Copy()
			ev.CreateAttr("ID", "_evil")
			ev.FindElement(".//NameID").SetText("alice@corp.example")
			ev.SelectElement("Signature").AddChild(orig.Copy())
			doc.Root().RemoveChild(orig)
			doc.Root().AddChild(ev)
			return doc
		},
		"SAML09 unsigned evil first, signed second": func(reqID string) *etree.Document {
			doc := e.signedDoc(reqID)
			e.signer.Sign(doc.Root())
			doc.Root().InsertChildAt(assertionOf(doc).Index(), e.evil(reqID))
			return doc
		},
		"SAML09 two signed assertions for different users": func(reqID string) *etree.Document {
			doc := e.signedDoc(reqID)
			doc.Root().AddChild(e.signer.Sign(e.evil(reqID)))
			return doc
		},
		"SAML15 duplicate IDs": func(reqID string) *etree.Document {
			doc := e.signedDoc(reqID)
			doc.Root().CreateAttr("ID", "_a"+reqID)
			return doc
		},
		"SAML14 attacker key with its cert in KeyInfo": func(reqID string) *etree.Document {
			k := testKeys()["attacker"]
			a := e.assertion(reqID)
			a.NameID = "alice@corp.example"
			return providertest.BuildResponse(e.response(reqID),
				providertest.Signer{Key: k.key, Cert: k.cert}.Sign(providertest.BuildAssertion(a)))
		},
		"SAML17 SHA-1 signature": func(reqID string) *etree.Document {
			s := e.signer
			s.SHA1 = true
			return providertest.BuildResponse(e.response(reqID), s.Sign(providertest.BuildAssertion(e.assertion(reqID))))
		},
		"SAML19 foreign-namespace NameID": func(reqID string) *etree.Document {
			el := providertest.BuildAssertion(e.assertion(reqID))
			n := el.FindElement(".//NameID")
			sub := n.Parent()
			sub.RemoveChild(n)
			x := etree.NewElement("x:NameID")
			x.CreateAttr("xmlns:x", "urn:evil")
			x.SetText("alice@corp.example")
			sub.InsertChildAt(0, x)
			return providertest.BuildResponse(e.response(reqID), e.signer.Sign(el))
		},
		"SAML20 no Issuer":                  e.mutated(func(a *providertest.Assertion) { a.OmitIssuer = true }),
		"SAML20 no Subject":                 e.mutated(func(a *providertest.Assertion) { a.OmitSubject = true }),
		"SAML20 no Conditions":              e.mutated(func(a *providertest.Assertion) { a.OmitConditions = true }),
		"SAML21 Issuer of another IdP":      e.mutated(func(a *providertest.Assertion) { a.Issuer = "https://idp-b.example" }),
		"SAML25 audience of another SP":     e.mutated(func(a *providertest.Assertion) { a.Audience = "https://other-sp.example" }),
		"SAML27 recipient with extra slash": e.mutated(func(a *providertest.Assertion) { a.Recipient = acsURL + "/" }),
		"SAML27 recipient of another IdP's ACS": e.mutated(func(a *providertest.Assertion) {
			a.Recipient = "https://gatehouse.test/saml/idp-b/acs"
		}),
		"SAML29 expired beyond skew": e.mutated(func(a *providertest.Assertion) {
			a.NotOnOrAfter = t0.Add(-DefaultClockSkew - time.Second)
		}),
		"SAML31 not yet valid":                   e.mutated(func(a *providertest.Assertion) { a.NotBefore = t0.Add(DefaultClockSkew + time.Minute) }),
		"SAML32 stale IssueInstant":              e.mutated(func(a *providertest.Assertion) { a.IssueInstant = t0.Add(-91 * time.Second) }),
		"SAML34 InResponseTo of another request": e.mutated(func(a *providertest.Assertion) { a.InResponseTo = "id-other" }),
		"SAML34 InResponseTo missing":            e.mutated(func(a *providertest.Assertion) { a.InResponseTo = "" }),
	}
}

// mutated builds a signed-assertion response after changing the assertion.
func (e *env) mutated(f func(*providertest.Assertion)) func(string) *etree.Document {
	return func(reqID string) *etree.Document { return e.signedDoc(reqID, f) }
}

func TestResponseLevelChecks(t *testing.T) {
	e := newEnv(t)
	for name, f := range map[string]func(*providertest.Response){
		"SAML28 other destination":         func(r *providertest.Response) { r.Destination = "https://evil.example/acs" },
		"SAML28 empty destination, signed": func(r *providertest.Response) { r.Destination = "" },
		"SAML34 response InResponseTo":     func(r *providertest.Response) { r.InResponseTo = "id-other" },
	} {
		t.Run(name, func(t *testing.T) {
			reqID, pending, _ := e.begin(t)
			r := e.response(reqID)
			f(&r)
			doc := providertest.BuildResponse(r, providertest.BuildAssertion(e.assertion(reqID)))
			e.signer.Sign(doc.Root())
			id, err := e.complete(doc, pending)
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
	t.Run("SAML37 non-success status with signed assertion", func(t *testing.T) {
		reqID, pending, _ := e.begin(t)
		r := e.response(reqID)
		r.Status = "urn:oasis:names:tc:SAML:2.0:status:Responder"
		doc := providertest.BuildResponse(r, e.signer.Sign(providertest.BuildAssertion(e.assertion(reqID))))
		id, err := e.complete(doc, pending)
		refused(t, id, err, providers.ErrUpstream)
	})
}

func TestSAML29_Boundary(t *testing.T) {
	e := newEnv(t)
	reqID, pending, _ := e.begin(t)
	doc := e.signedDoc(reqID, func(a *providertest.Assertion) { a.NotOnOrAfter = t0.Add(-DefaultClockSkew + time.Second) })
	if _, err := e.complete(doc, pending); err != nil {
		t.Fatalf("within skew refused: %v", err)
	}
}

func TestSAML18_CommentInjection(t *testing.T) {
	e := newEnv(t)
	reqID, pending, _ := e.begin(t)
	el := providertest.BuildAssertion(e.assertion(reqID))
	el.FindElement(".//NameID").SetText("alice@corp.example.evil.test")
	el.FindElement(".//AttributeValue").SetText("alice@corp.example.evil.test")
	signed := e.signer.Sign(el)
	for _, n := range []*etree.Element{signed.FindElement(".//NameID"), signed.FindElement(".//AttributeValue")} {
		n.Child = nil
		n.AddChild(etree.NewText("alice@corp.example"))
		n.AddChild(etree.NewComment(""))
		n.AddChild(etree.NewText(".evil.test"))
	}
	id, err := e.complete(providertest.BuildResponse(e.response(reqID), signed), pending)
	if err == nil && (id.Subject != "alice@corp.example.evil.test" || id.Email != "alice@corp.example.evil.test") {
		t.Fatalf("truncated principal: subject %q email %q", id.Subject, id.Email)
	}
	t.Logf("subject %q, err %v", id.Subject, err)
}

func TestSAML23_ReplayCrafted(t *testing.T) {
	e := newEnv(t)
	reqID, pending, _ := e.begin(t)
	enc := providertest.Encode(e.signedDoc(reqID))
	id, err := e.p.Complete(context.Background(), post(enc), pending)
	if err != nil {
		t.Fatal(err)
	}
	// The assertion's ID, under the provider's namespace, until the last
	// moment crewjam would accept it (here IssueInstant + MaxIssueDelay,
	// before NotOnOrAfter).
	want := []providers.ReplayKey{{Key: "saml:idp-a:_a" + reqID, ExpiresAt: t0.Add(crewjam.MaxIssueDelay)}}
	if !reflect.DeepEqual(id.ReplayKeys, want) {
		t.Fatalf("replay keys %+v, want %+v", id.ReplayKeys, want)
	}
	if _, err := e.use(id, nil); err != nil {
		t.Fatal(err)
	}
	id, err = e.use(e.p.Complete(context.Background(), post(enc), pending))
	refused(t, id, err, providers.ErrReplay)
}

func TestSAML35_Unsolicited(t *testing.T) {
	e := newEnv(t)
	doc := e.signedDoc("", func(a *providertest.Assertion) { a.InResponseTo = "" })
	id, err := e.complete(doc, nil)
	refused(t, id, err, providers.ErrInvalidResponse)

	t.Run("enabled per provider, still replay-protected", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.AllowIDPInitiated = true })
		r := e.response("")
		r.InResponseTo = ""
		a := e.assertion("")
		a.InResponseTo = ""
		doc := providertest.BuildResponse(r, e.signer.Sign(providertest.BuildAssertion(a)))
		if _, err := e.complete(doc, nil); err != nil {
			t.Fatal(err)
		}
		id, err := e.complete(doc, nil)
		refused(t, id, err, providers.ErrReplay)
	})
	t.Run("SAML24 SP-initiated response on the unsolicited path", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.AllowIDPInitiated = true })
		reqID, _, _ := e.begin(t)
		id, err := e.complete(e.signedDoc(reqID), nil)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
}

func TestSAML21_ResponseForAnotherProvider(t *testing.T) {
	a := newEnv(t)
	b := newEnv(t, func(c *Config) { c.ID = "idp-b" })
	reqID, pendingB, _ := b.begin(t)
	id, err := a.complete(a.signedDoc(reqID), pendingB)
	refused(t, id, err, providers.ErrInvalidResponse)
}

func TestXMLParsingLimits(t *testing.T) {
	var canary atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { canary.Add(1) }))
	defer srv.Close()
	e := newEnv(t)
	reqID, pending, _ := e.begin(t)
	signed, _ := e.signedDoc(reqID).WriteToString()
	cases := map[string]string{
		"SAML40 DOCTYPE with external entity": `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "` + srv.URL + `/xxe">]>` + strings.Replace(signed, "mallory", "&x;", 1),
		"SAML41 billion laughs":               `<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;</l>`,
		"SAML43 deep nesting":                 strings.Repeat("<a>", 20000) + strings.Repeat("</a>", 20000),
		"SAML42 odd directive":                strings.Replace(signed, "<samlp:Response", "<!x><samlp:Response", 1),
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			id, err := e.p.Complete(context.Background(), post(base64.StdEncoding.EncodeToString([]byte(doc))), pending)
			refused(t, id, err, providers.ErrInvalidResponse)
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("took %v", d)
			}
		})
	}
	if canary.Load() != 0 {
		t.Fatalf("XXE canary hit %d times", canary.Load())
	}
	t.Run("SAML44 oversized", func(t *testing.T) {
		big := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 10<<20)))
		id, err := e.p.Complete(context.Background(), post(big), pending)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
	t.Run("artifact binding refused", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, acsURL, strings.NewReader("SAMLart=AAQAAA"))
		id, err := e.p.Complete(context.Background(), r, pending)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
}

func TestSAML13_MetadataWithoutSigningCert(t *testing.T) {
	e := newEnv(t)
	md := string(e.idp.Metadata())
	for name, doc := range map[string]string{
		"no KeyDescriptor": regexpReplace(md, `(?s)<KeyDescriptor.*?</KeyDescriptor>`, ""),
		"encryption only":  regexpReplace(md, `<KeyDescriptor( use="signing")?>`, `<KeyDescriptor use="encryption">`),
		"javascript SSO":   regexpReplace(md, `Location="http://[^"]*sso"`, `Location="javascript:alert(1)"`),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseIdPMetadata([]byte(doc), MetadataOptions{AllowHTTP: true}); err == nil {
				t.Fatal("metadata accepted")
			}
		})
	}
}
