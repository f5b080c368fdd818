package broker

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// crafted builds harness H2 SAML responses for the flow with request ID reqID at
// provider id, signed by the test IdP's key unless mutated.
type crafted struct {
	A          providertest.Assertion
	R          providertest.Response
	Unsigned   bool
	SignResp   bool
	PostSign   func(resp *etree.Element) // after signing (XSW)
	RawPrefix  string                    // e.g. a DOCTYPE
	RelayState string
	Signer     *providertest.Signer // default: the test IdP's key
}

func (e *signinEnv) crafted(id, reqID string) crafted {
	ep := upstream.EndpointsFor(mustURL(e.ts.URL), id)
	now := e.clk.Now()
	issuer := e.idp.IdP.Metadata().EntityID
	return crafted{
		A: providertest.Assertion{ID: "a-" + token.Random(8), Issuer: issuer, NameID: "carol@saml.example",
			NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", Audience: ep.EntityID,
			Recipient: ep.ACS, InResponseTo: reqID, SessionIndex: "idx-9", IssueInstant: now,
			NotBefore: now.Add(-time.Minute), NotOnOrAfter: now.Add(5 * time.Minute),
			Attributes: map[string][]string{"mail": {"carol@saml.example"}, "displayName": {"Carol"}}},
		R: providertest.Response{ID: "r-" + token.Random(8), Issuer: issuer, Destination: ep.ACS, InResponseTo: reqID, IssueInstant: now},
	}
}

func (cr crafted) encode() string {
	k, c := samlKeys()
	signer := providertest.Signer{Key: k, Cert: c}
	if cr.Signer != nil {
		signer = *cr.Signer
	}
	if cr.Signer != nil {
		signer = *cr.Signer
	}
	a := providertest.BuildAssertion(cr.A)
	if !cr.Unsigned && !cr.SignResp {
		a = signer.Sign(a)
	}
	doc := providertest.BuildResponse(cr.R, a)
	if cr.SignResp {
		doc.SetRoot(signer.Sign(doc.Root()))
	}
	if cr.PostSign != nil {
		cr.PostSign(doc.Root())
	}
	b, _ := doc.WriteToBytes()
	return encodeB64(cr.RawPrefix + string(b))
}

func (e *signinEnv) postACS(c *http.Client, id string, cr crafted) *http.Response {
	e.t.Helper()
	f := url.Values{"SAMLResponse": {cr.encode()}}
	if cr.RelayState != "" {
		f.Set("RelayState", cr.RelayState)
	}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/saml/"+id+"/acs", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "null") // a cross-site form post, as from the IdP
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func samlEnv(t *testing.T, o envOptions) *signinEnv {
	e := newSigninEnv(t, o)
	e.addSAML("uni", "saml.example", false, carol())
	return e
}

func TestSAMLCraftedPositiveControl(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, envOptions{})
	c := newClient(e)
	cr := e.crafted("uni", e.startSAML(c, "uni"))
	cr.RelayState = "https://evil.test/" // SAML-36: ignored; the flow's return_to counts
	res := e.postACS(c, "uni", cr)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account" {
		t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if e.sessions() != 1 {
		t.Fatal("no session")
	}
}

func TestSAMLRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		mut    func(e *signinEnv, cr *crafted)
	}{
		{"SAML10_Unsigned", 400, func(_ *signinEnv, cr *crafted) { cr.Unsigned = true }},
		{"SAML03_XSW_EvilAssertionFirst", 400, func(_ *signinEnv, cr *crafted) {
			evil := cr.A
			evil.NameID, evil.ID = "alice@saml.example", "evil"
			cr.PostSign = func(resp *etree.Element) {
				resp.InsertChildAt(resp.SelectElement("Assertion").Index(), providertest.BuildAssertion(evil))
			}
		}},
		{"SAML11_EditedAfterSigning", 400, func(_ *signinEnv, cr *crafted) {
			cr.SignResp = true
			cr.PostSign = func(resp *etree.Element) {
				resp.FindElement("./Assertion/Subject/NameID").SetText("alice@saml.example")
			}
		}},
		{"SAML25_WrongAudience", 400, func(_ *signinEnv, cr *crafted) { cr.A.Audience = "https://other-sp.test/" }},
		{"SAML27_WrongRecipient", 400, func(_ *signinEnv, cr *crafted) { cr.A.Recipient += "/" }},
		{"SAML28_WrongDestination", 400, func(_ *signinEnv, cr *crafted) { cr.R.Destination = "https://other-sp.test/acs" }},
		{"SAML29_Expired", 400, func(e *signinEnv, cr *crafted) {
			cr.A.NotOnOrAfter = e.clk.Now().Add(-3 * time.Minute)
		}},
		{"SAML34_InResponseToMismatch", 400, func(_ *signinEnv, cr *crafted) {
			cr.A.InResponseTo, cr.R.InResponseTo = "id-of-another-browser", "id-of-another-browser"
		}},
		{"SAML40_Doctype", 400, func(_ *signinEnv, cr *crafted) {
			cr.RawPrefix = `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]>`
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := samlEnv(t, envOptions{})
			c := newClient(e)
			cr := e.crafted("uni", e.startSAML(c, "uni"))
			tc.mut(e, &cr)
			e.refused(e.postACS(c, "uni", cr), tc.status, 0)
			e.wantAudit("signin.refused", "invalid_response")
		})
	}
}

func TestSAML18_CommentInjectedNameID(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, envOptions{})
	c := newClient(e)
	cr := e.crafted("uni", e.startSAML(c, "uni"))
	cr.A.NameID = "carol@saml.example.evil.test"
	cr.A.Attributes = map[string][]string{"mail": {"carol@saml.example.evil.test"}}
	signed := cr.encode()
	// Insert the comment after signing: exclusive c14n leaves comments out, so
	// the signature stays valid.
	raw := decodeB64(t, signed)
	raw = strings.Replace(raw, "carol@saml.example.evil.test</saml:NameID>", "carol@saml.example<!---->.evil.test</saml:NameID>", 1)
	f := url.Values{"SAMLResponse": {encodeB64(raw)}}
	res, err := c.PostForm(e.ts.URL+"/saml/uni/acs", f)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusSeeOther {
		if _, err := e.db.Identities().Get(context.Background(), "uni", "carol@saml.example"); err == nil {
			t.Fatal("the principal was truncated at the comment")
		}
		if _, err := e.db.Identities().Get(context.Background(), "uni", "carol@saml.example.evil.test"); err != nil {
			t.Fatalf("accepted, but not as the full NameID: %v", err)
		}
	}
}

func TestSAML44_OversizedResponse(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, envOptions{})
	c := newClient(e)
	e.startSAML(c, "uni")
	f := url.Values{"SAMLResponse": {strings.Repeat("A", 10<<20)}}
	res, err := c.PostForm(e.ts.URL+"/saml/uni/acs", f)
	if err != nil {
		t.Fatal(err)
	}
	e.refused(res, http.StatusRequestEntityTooLarge, 0)
}

func TestSAML35_UnsolicitedResponseRefused(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, envOptions{})
	c := newClient(e)
	reqID := e.startSAML(c, "uni")
	cr := e.crafted("uni", reqID)
	cr.A.InResponseTo, cr.R.InResponseTo = "", ""
	// WEB-05 (b): the attacker's own response auto-posted into a browser that
	// holds no flow, and an IdP-initiated response: both refused.
	e.refused(e.postACS(newClient(e), "uni", cr), http.StatusBadRequest, 0)
	e.refused(e.postACS(c, "uni", cr), http.StatusBadRequest, 0)
}

// TestSAML23_ReplayAcrossReplicas signs in on one replica, then presents the same
// assertion (same ID, a fresh flow) and the same complete POST on the other: the
// database refuses both, on SQLite and on PostgreSQL.
func TestSAML23_ReplayAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, b := range sharedBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := samlEnv(t, envOptions{dbURL: b.url(t), replicas: 2})
			for _, other := range []int32{0, 1} {
				t.Run(fmt.Sprintf("same_replica_%v", other == 0), func(t *testing.T) {
					e.active.Store(0)
					c := newClient(e)
					cr := e.crafted("uni", e.startSAML(c, "uni"))
					first := cr.encode()
					res := e.postACSRaw(c, "uni", first)
					if res.StatusCode != http.StatusSeeOther {
						t.Fatalf("first: %d", res.StatusCode)
					}
					e.replicas[0].deleteAllSessionsForTest(t)
					users := e.users()
					e.active.Store(other)
					c2 := newClient(e)
					cr2 := e.crafted("uni", e.startSAML(c2, "uni"))
					cr2.A.ID = cr.A.ID // the replayed assertion, under a fresh flow
					e.refused(e.postACS(c2, "uni", cr2), http.StatusBadRequest, users)
					e.wantAudit("signin.refused", "replay")
				})
			}
		})
	}
}

func (e *signinEnv) postACSRaw(c *http.Client, id, samlResponse string) *http.Response {
	e.t.Helper()
	res, err := c.PostForm(e.ts.URL+"/saml/"+id+"/acs", url.Values{"SAMLResponse": {samlResponse}})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func encodeB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func decodeB64(t *testing.T, s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDisabledUserRefusedAndResponseSpent: a disabled user's verified sign-in is
// refused with no session; the assertion it carried stays used, so it cannot be
// presented again once the user is enabled (SAML-23), while a new one signs in.
func TestDisabledUserRefusedAndResponseSpent(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, envOptions{})
	ctx := t.Context()
	c := newClient(e)
	if res := e.postACS(c, "uni", e.crafted("uni", e.startSAML(c, "uni"))); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d", res.StatusCode)
	}
	e.replicas[0].deleteAllSessionsForTest(t)
	setDisabled := func(disabled bool) {
		t.Helper()
		id, err := e.db.Identities().Get(ctx, "uni", "carol@saml.example")
		must(t, err)
		u, err := e.db.Users().Get(ctx, id.UserID)
		must(t, err)
		u.Disabled = disabled
		must(t, e.db.Users().Update(ctx, u))
	}
	setDisabled(true)
	users := e.users()
	c2 := newClient(e)
	cr := e.crafted("uni", e.startSAML(c2, "uni"))
	e.refused(e.postACS(c2, "uni", cr), http.StatusBadRequest, users)
	e.wantAudit("signin.refused", "user_disabled")

	setDisabled(false)
	c3 := newClient(e)
	again := e.crafted("uni", e.startSAML(c3, "uni"))
	again.A.ID = cr.A.ID // the refused assertion, under a fresh flow
	e.refused(e.postACS(c3, "uni", again), http.StatusBadRequest, users)
	e.wantAudit("signin.refused", "replay")

	c4 := newClient(e)
	if res := e.postACS(c4, "uni", e.crafted("uni", e.startSAML(c4, "uni"))); res.StatusCode != http.StatusSeeOther || e.sessions() != 1 {
		t.Fatalf("sign-in after enabling: %d, %d sessions", res.StatusCode, e.sessions())
	}
}
