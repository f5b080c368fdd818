package saml

import (
	"bytes"
	"context"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// tokenURL is Gatehouse's token endpoint, the Recipient an assertion for
// exchange must name (RFC 7522 §3 item 5).
const tokenURL = "https://gatehouse.test/oauth2/token"

// newTokenEnv is newEnv whose assertion() is for exchange: Recipient the
// token endpoint (and callers pass reqID "", so no InResponseTo).
func newTokenEnv(t testing.TB, mut ...func(*Config)) *env {
	e := newEnv(t, mut...)
	e.recipient = tokenURL
	return e
}

// exchange presents token at the token endpoint and records its replay keys
// as the broker does.
func (e *env) exchange(token string) (providers.Identity, error) {
	return e.use(e.p.VerifyToken(context.Background(), providers.TokenParams{Token: token, Recipient: tokenURL}))
}

// tokenOf is the token a client would send for the assertions of a
// Response: each top-level Assertion serialised as is, base64url.
func tokenOf(doc *etree.Document) string {
	var b bytes.Buffer
	for _, el := range doc.Root().ChildElements() {
		if el.Tag == "Assertion" {
			d := etree.NewDocument()
			d.SetRoot(el.Copy())
			if _, err := d.WriteTo(&b); err != nil {
				panic(err)
			}
		}
	}
	return base64.RawURLEncoding.EncodeToString(b.Bytes())
}

// signedToken is a signed assertion for exchange, changed by mut first.
func (e *env) signedToken(mut ...func(*providertest.Assertion)) string {
	return tokenOf(e.signedDoc("", mut...))
}

// TestASTX06_PositiveControl: an assertion signed by the IdP for this SP,
// naming the token endpoint, is exchanged once, with the ACS's replay key.
func TestASTX06_PositiveControl(t *testing.T) {
	e := newTokenEnv(t)
	tok := e.signedToken()
	id, err := e.p.VerifyToken(context.Background(), providers.TokenParams{Token: tok, Recipient: tokenURL})
	if err != nil {
		t.Fatal(err)
	}
	if id.ProviderID != "idp-a" || id.Subject != "mallory@corp.example" || id.LogoutState != nil ||
		len(id.ReplayKeys) != 1 || id.ReplayKeys[0].Key != "saml:idp-a:_a" {
		t.Fatalf("identity %+v", id)
	}
	if _, err := e.use(id, nil); err != nil {
		t.Fatal(err)
	}
	id, err = e.exchange(tok)
	refused(t, id, err, providers.ErrReplay)

	t.Run("XML declaration, comments and padding around it", func(t *testing.T) {
		e := newTokenEnv(t)
		raw, _ := base64.RawURLEncoding.DecodeString(e.signedToken())
		doc := append([]byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- for exchange -->\n"), raw...)
		enc := base64.URLEncoding.EncodeToString(append(doc, "\n<!-- end -->\n"...))
		if _, err := e.exchange(enc); err != nil {
			t.Fatal(err)
		}
	})
}

// TestASTX06_SignatureWrapping: the ACS's wrapping and assertion-level cases
// (TestSignatureWrapping's table), each Response's assertions presented as
// the token, are refused and nothing is recorded.
func TestASTX06_SignatureWrapping(t *testing.T) {
	e := newTokenEnv(t)
	skip := map[string]string{
		// Without InResponseTo is what an assertion for exchange looks like.
		"SAML34 InResponseTo missing": "the exchange's positive case",
		// The duplicate ID is the Response's, which a token does not carry;
		// TestASTX06_TokenShape has the assertion-only variants.
		"SAML15 duplicate IDs": "Response-only",
	}
	for name, build := range e.wrappingCases() {
		if skip[name] != "" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			e.replay = &memReplay{} // what this case records
			id, err := e.exchange(tokenOf(build("")))
			refused(t, id, err, providers.ErrInvalidResponse)
			if len(e.replay.m) != 0 {
				t.Fatalf("replay keys recorded: %v", e.replay.m)
			}
		})
	}
}

// TestASTX06_Assertion: the bearer assertion rules (RFC 7522 §3,
// SAML-Prof §4.1.4.3) with the token endpoint as Recipient.
func TestASTX06_Assertion(t *testing.T) {
	e := newTokenEnv(t)
	for name, mut := range map[string]func(*providertest.Assertion){
		"unsigned":                            nil,
		"Audience of another provider's SP":   func(a *providertest.Assertion) { a.Audience = "https://gatehouse.test/saml/idp-b/metadata" },
		"Recipient is the ACS URL":            func(a *providertest.Assertion) { a.Recipient = acsURL },
		"Recipient is another token endpoint": func(a *providertest.Assertion) { a.Recipient = tokenURL + "/" },
		"no Recipient":                        func(a *providertest.Assertion) { a.Recipient = "" },
		"InResponseTo of a sign-in":           func(a *providertest.Assertion) { a.InResponseTo = "id-login" },
		"expired":                             func(a *providertest.Assertion) { a.NotOnOrAfter = t0.Add(-DefaultClockSkew - time.Second) },
		"not yet valid":                       func(a *providertest.Assertion) { a.NotBefore = t0.Add(DefaultClockSkew + time.Minute) },
		"stale IssueInstant":                  func(a *providertest.Assertion) { a.IssueInstant = t0.Add(-91 * time.Second) },
		"IssueInstant in the future":          func(a *providertest.Assertion) { a.IssueInstant = t0.Add(10 * time.Minute) },
		"Issuer of another IdP":               func(a *providertest.Assertion) { a.Issuer = "https://idp-b.example" },
		"no Conditions (so no Audience)":      func(a *providertest.Assertion) { a.OmitConditions = true },
		"no bearer SubjectConfirmation method": func(a *providertest.Assertion) {
			a.Edit = setConfirmationMethod("urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")
		},
	} {
		t.Run(name, func(t *testing.T) {
			e.replay = &memReplay{} // what this case records
			var tok string
			if mut == nil {
				tok = tokenOf(providertest.BuildResponse(e.response(""), providertest.BuildAssertion(e.assertion(""))))
			} else {
				tok = e.signedToken(mut)
			}
			id, err := e.exchange(tok)
			refused(t, id, err, providers.ErrInvalidResponse)
			if len(e.replay.m) != 0 {
				t.Fatalf("replay keys recorded: %v", e.replay.m)
			}
		})
	}
	t.Run("assertion of the real IdP for a browser sign-in", func(t *testing.T) {
		// crewjam's IdP mints for the ACS (Recipient and InResponseTo).
		e := newEnv(t)
		_, _, start := e.begin(t)
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
		raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(string(m[1])))
		if err != nil {
			t.Fatal(err)
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(raw); err != nil {
			t.Fatal(err)
		}
		// It encrypts its assertion for the SP; the client would decrypt it
		// with the SP key to present it (a signed Assertion inside).
		enc := doc.Root().SelectElement("EncryptedAssertion")
		if enc == nil {
			t.Fatalf("no EncryptedAssertion in the IdP's response: %s", raw)
		}
		plain, err := e.p.decryptAssertion(enc)
		if err != nil || plain.SelectElement("Signature") == nil {
			t.Fatalf("decrypting: %v", err)
		}
		d := etree.NewDocument()
		d.SetRoot(plain)
		b, _ := d.WriteToBytes()
		id, err := e.exchange(base64.RawURLEncoding.EncodeToString(b))
		refused(t, id, err, providers.ErrInvalidResponse)
		id, err = e.exchange(tokenOf(doc)) // as received: an EncryptedAssertion
		refused(t, id, err, providers.ErrInvalidResponse)
	})
	t.Run("the token endpoint may not be the ACS", func(t *testing.T) {
		e := newEnv(t) // assertions name the ACS
		id, err := e.use(e.p.VerifyToken(context.Background(), providers.TokenParams{Token: e.signedToken(), Recipient: acsURL}))
		refused(t, id, err, providers.ErrConfig)
	})
}

func setConfirmationMethod(method string) func(*etree.Element) {
	return func(a *etree.Element) { a.FindElement(".//SubjectConfirmation").CreateAttr("Method", method) }
}

// TestASTX06_TokenShape: the token is one base64url-encoded saml:Assertion
// (RFC 7522 §2.1, §3 item 9; RFC 8693 §3); anything else is refused.
func TestASTX06_TokenShape(t *testing.T) {
	e := newTokenEnv(t)
	good, _ := base64.RawURLEncoding.DecodeString(e.signedToken())
	b64 := base64.RawURLEncoding.EncodeToString
	signedResponse := e.signedDoc("")
	e.signer.Sign(signedResponse.Root())
	respXML, _ := signedResponse.WriteToBytes()
	otherID := func() string {
		// The signature references the assertion's old ID.
		doc := etree.NewDocument()
		_ = doc.ReadFromBytes(good)
		doc.Root().CreateAttr("ID", "_b")
		b, _ := doc.WriteToBytes()
		return b64(b)
	}()
	nested := func() string {
		// An unsigned assertion for alice holding the signed one, whose
		// signature it borrows.
		a := e.assertion("")
		a.ID, a.NameID = "_evil", "alice@corp.example"
		ev := providertest.BuildAssertion(a)
		doc := etree.NewDocument()
		_ = doc.ReadFromBytes(good)
		orig := doc.Root()
		ev.InsertChildAt(1, orig.SelectElement("Signature").Copy())
		ev.SelectElement("Subject").AddChild(orig)
		d := etree.NewDocument()
		d.SetRoot(ev)
		b, _ := d.WriteToBytes()
		return b64(b)
	}()
	for name, tok := range map[string]string{
		"AS-TX-05 a JWT":                      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln",
		"a signed Response":                   b64(respXML),
		"an EncryptedAssertion":               b64([]byte(`<saml:EncryptedAssertion xmlns:saml="` + nsAssertion + `"/>`)),
		"an Assertion in another namespace":   b64(bytes.Replace(good, []byte(nsAssertion), []byte("urn:evil"), 1)),
		"two assertions":                      b64(append(append([]byte{}, good...), good...)),
		"trailing element":                    b64(append(append([]byte{}, good...), "<x/>"...)),
		"trailing text":                       b64(append(append([]byte{}, good...), "alice"...)),
		"processing instruction before":       b64(append([]byte("<?x y?>"), good...)),
		"DOCTYPE":                             b64(append([]byte(`<!DOCTYPE a [<!ENTITY x "alice">]>`), good...)),
		"signature references another ID":     otherID,
		"signed assertion nested in evil one": nested,
		"empty":                               "",
		"not base64url (standard alphabet)":   strings.NewReplacer("-", "+", "_", "/").Replace(b64(good)) + "+/",
		"non-zero padding bits":               reencodeLast(b64(good)),
		"not XML":                             b64([]byte("alice")),
		"truncated":                           b64(good[:len(good)/2]),
		"deep nesting":                        b64([]byte(strings.Repeat("<a>", 20000) + strings.Repeat("</a>", 20000))),
		"oversized":                           strings.Repeat("A", DefaultMaxResponseBytes*4/3+8),
	} {
		t.Run(name, func(t *testing.T) {
			e.replay = &memReplay{} // what this case records
			id, err := e.exchange(tok)
			refused(t, id, err, providers.ErrInvalidResponse)
			if len(e.replay.m) != 0 {
				t.Fatalf("replay keys recorded: %v", e.replay.m)
			}
		})
	}
}

// reencodeLast sets the unused low bits of the last base64url character, or
// returns a string that is not base64url if there are none.
func reencodeLast(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	unused := map[int]int{2: 4, 3: 2}[len(s)%4]
	if unused == 0 {
		return s + "*"
	}
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last|(1<<unused-1)])
}

// TestASTX06_SameReplayKeyAsACS: an assertion whose bearer confirmations
// name both the ACS (for this browser's request) and the token endpoint is
// valid at either, and gives the same replay key at both, so it is accepted
// at one of them once (AS-TX-06: the replay cache is shared).
func TestASTX06_SameReplayKeyAsACS(t *testing.T) {
	both := func(e *env, reqID string) *etree.Document {
		return e.signedDoc(reqID, func(a *providertest.Assertion) {
			a.Edit = func(el *etree.Element) {
				sub := el.SelectElement("Subject")
				sc := sub.SelectElement("SubjectConfirmation").Copy()
				scd := sc.SelectElement("SubjectConfirmationData")
				scd.RemoveAttr("InResponseTo")
				scd.CreateAttr("Recipient", tokenURL)
				sub.AddChild(sc)
			}
		})
	}
	t.Run("sign-in first", func(t *testing.T) {
		e := newEnv(t)
		reqID, pending, _ := e.begin(t)
		doc := both(e, reqID)
		login, err := e.complete(doc, pending)
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.p.VerifyToken(context.Background(), providers.TokenParams{Token: tokenOf(doc), Recipient: tokenURL})
		if err != nil {
			t.Fatalf("unrecorded, the assertion is valid for exchange too: %v", err)
		}
		if len(id.ReplayKeys) != 1 || id.ReplayKeys[0] != login.ReplayKeys[0] {
			t.Fatalf("exchange keys %v, sign-in keys %v", id.ReplayKeys, login.ReplayKeys)
		}
		id, err = e.use(id, nil)
		refused(t, id, err, providers.ErrReplay)
	})
	t.Run("exchange first", func(t *testing.T) {
		e := newEnv(t)
		reqID, pending, _ := e.begin(t)
		doc := both(e, reqID)
		if _, err := e.exchange(tokenOf(doc)); err != nil {
			t.Fatal(err)
		}
		id, err := e.complete(doc, pending)
		refused(t, id, err, providers.ErrReplay)
	})
}
