package signin_test

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

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
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

func craftResponse(e *brokertest.SigninEnv, id, reqID string) crafted {
	ep := upstream.EndpointsFor(mustURL(e.TS.URL), id)
	now := e.Clk.Now()
	issuer := e.IdP.IdP.Metadata().EntityID
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
	k, c := brokertest.SAMLKeys()
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

func postACS(e *brokertest.SigninEnv, c *http.Client, id string, cr crafted) *http.Response {
	e.T.Helper()
	f := url.Values{"SAMLResponse": {cr.encode()}}
	if cr.RelayState != "" {
		f.Set("RelayState", cr.RelayState)
	}
	req, _ := http.NewRequest(http.MethodPost, e.TS.URL+"/saml/"+id+"/acs", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "null") // a cross-site form post, as from the IdP
	res, err := c.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	return res
}

func samlEnv(t *testing.T, o brokertest.Options) *brokertest.SigninEnv {
	e := brokertest.NewSigninEnv(t, o)
	e.AddSAML("uni", "saml.example", false, brokertest.Carol())
	return e
}

func TestSAMLCraftedPositiveControl(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, brokertest.Options{})
	c := brokertest.NewClient(e)
	cr := craftResponse(e, "uni", startSAML(e, c, "uni"))
	cr.RelayState = "https://evil.test/" // SAML-36: ignored; the flow's return_to counts
	res := postACS(e, c, "uni", cr)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account" {
		t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if e.Sessions() != 1 {
		t.Fatal("no session")
	}
}

func TestSAMLRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		mut    func(e *brokertest.SigninEnv, cr *crafted)
	}{
		{"SAML10_Unsigned", 400, func(_ *brokertest.SigninEnv, cr *crafted) { cr.Unsigned = true }},
		{"SAML03_XSW_EvilAssertionFirst", 400, func(_ *brokertest.SigninEnv, cr *crafted) {
			evil := cr.A
			evil.NameID, evil.ID = "alice@saml.example", "evil"
			cr.PostSign = func(resp *etree.Element) {
				resp.InsertChildAt(resp.SelectElement("Assertion").Index(), providertest.BuildAssertion(evil))
			}
		}},
		{"SAML11_EditedAfterSigning", 400, func(_ *brokertest.SigninEnv, cr *crafted) {
			cr.SignResp = true
			cr.PostSign = func(resp *etree.Element) {
				resp.FindElement("./Assertion/Subject/NameID").SetText("alice@saml.example")
			}
		}},
		{"SAML25_WrongAudience", 400, func(_ *brokertest.SigninEnv, cr *crafted) { cr.A.Audience = "https://other-sp.test/" }},
		{"SAML27_WrongRecipient", 400, func(_ *brokertest.SigninEnv, cr *crafted) { cr.A.Recipient += "/" }},
		{"SAML28_WrongDestination", 400, func(_ *brokertest.SigninEnv, cr *crafted) { cr.R.Destination = "https://other-sp.test/acs" }},
		{"SAML29_Expired", 400, func(e *brokertest.SigninEnv, cr *crafted) {
			cr.A.NotOnOrAfter = e.Clk.Now().Add(-3 * time.Minute)
		}},
		{"SAML34_InResponseToMismatch", 400, func(_ *brokertest.SigninEnv, cr *crafted) {
			cr.A.InResponseTo, cr.R.InResponseTo = "id-of-another-browser", "id-of-another-browser"
		}},
		{"SAML40_Doctype", 400, func(_ *brokertest.SigninEnv, cr *crafted) {
			cr.RawPrefix = `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]>`
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := samlEnv(t, brokertest.Options{})
			c := brokertest.NewClient(e)
			cr := craftResponse(e, "uni", startSAML(e, c, "uni"))
			tc.mut(e, &cr)
			refused(e, postACS(e, c, "uni", cr), tc.status, 0)
			wantAudit(e, "signin.refused", "invalid_response")
		})
	}
}

func TestSAML18_CommentInjectedNameID(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, brokertest.Options{})
	c := brokertest.NewClient(e)
	cr := craftResponse(e, "uni", startSAML(e, c, "uni"))
	cr.A.NameID = "carol@saml.example.evil.test"
	cr.A.Attributes = map[string][]string{"mail": {"carol@saml.example.evil.test"}}
	signed := cr.encode()
	// Insert the comment after signing: exclusive c14n leaves comments out, so
	// the signature stays valid.
	raw := decodeB64(t, signed)
	raw = strings.Replace(raw, "carol@saml.example.evil.test</saml:NameID>", "carol@saml.example<!---->.evil.test</saml:NameID>", 1)
	f := url.Values{"SAMLResponse": {encodeB64(raw)}}
	res, err := c.PostForm(e.TS.URL+"/saml/uni/acs", f)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusSeeOther {
		if _, err := e.DB.Identities().Get(context.Background(), "uni", "carol@saml.example"); err == nil {
			t.Fatal("the principal was truncated at the comment")
		}
		if _, err := e.DB.Identities().Get(context.Background(), "uni", "carol@saml.example.evil.test"); err != nil {
			t.Fatalf("accepted, but not as the full NameID: %v", err)
		}
	}
}

func TestSAML44_OversizedResponse(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, brokertest.Options{})
	c := brokertest.NewClient(e)
	startSAML(e, c, "uni")
	f := url.Values{"SAMLResponse": {strings.Repeat("A", 10<<20)}}
	res, err := c.PostForm(e.TS.URL+"/saml/uni/acs", f)
	if err != nil {
		t.Fatal(err)
	}
	refused(e, res, http.StatusRequestEntityTooLarge, 0)
}

func TestSAML35_UnsolicitedResponseRefused(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, brokertest.Options{})
	c := brokertest.NewClient(e)
	reqID := startSAML(e, c, "uni")
	cr := craftResponse(e, "uni", reqID)
	cr.A.InResponseTo, cr.R.InResponseTo = "", ""
	// WEB-05 (b): the attacker's own response auto-posted into a browser that
	// holds no flow, and an IdP-initiated response: both refused.
	refused(e, postACS(e, brokertest.NewClient(e), "uni", cr), http.StatusBadRequest, 0)
	refused(e, postACS(e, c, "uni", cr), http.StatusBadRequest, 0)
}

// TestSAML23_ReplayAcrossReplicas signs in on one replica, then presents the same
// assertion (same ID, a fresh flow) and the same complete POST on the other: the
// database refuses both, on SQLite and on PostgreSQL.
func TestSAML23_ReplayAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, b := range sharedBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := samlEnv(t, brokertest.Options{DBURL: b.url(t), Replicas: 2})
			for _, other := range []int32{0, 1} {
				t.Run(fmt.Sprintf("same_replica_%v", other == 0), func(t *testing.T) {
					e.Active.Store(0)
					c := brokertest.NewClient(e)
					cr := craftResponse(e, "uni", startSAML(e, c, "uni"))
					first := cr.encode()
					res := postACSRaw(e, c, "uni", first)
					if res.StatusCode != http.StatusSeeOther {
						t.Fatalf("first: %d", res.StatusCode)
					}
					e.DeleteAllSessions(t)
					users := e.Users()
					e.Active.Store(other)
					c2 := brokertest.NewClient(e)
					cr2 := craftResponse(e, "uni", startSAML(e, c2, "uni"))
					cr2.A.ID = cr.A.ID // the replayed assertion, under a fresh flow
					refused(e, postACS(e, c2, "uni", cr2), http.StatusBadRequest, users)
					wantAudit(e, "signin.refused", "replay")
				})
			}
		})
	}
}

func postACSRaw(e *brokertest.SigninEnv, c *http.Client, id, samlResponse string) *http.Response {
	e.T.Helper()
	res, err := c.PostForm(e.TS.URL+"/saml/"+id+"/acs", url.Values{"SAMLResponse": {samlResponse}})
	if err != nil {
		e.T.Fatal(err)
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
	e := samlEnv(t, brokertest.Options{})
	ctx := t.Context()
	c := brokertest.NewClient(e)
	if res := postACS(e, c, "uni", craftResponse(e, "uni", startSAML(e, c, "uni"))); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d", res.StatusCode)
	}
	e.DeleteAllSessions(t)
	setDisabled := func(disabled bool) {
		t.Helper()
		id, err := e.DB.Identities().Get(ctx, "uni", "carol@saml.example")
		brokertest.Must(t, err)
		u, err := e.DB.Users().Get(ctx, id.UserID)
		brokertest.Must(t, err)
		u.Disabled = disabled
		brokertest.Must(t, e.DB.Users().Update(ctx, u))
	}
	setDisabled(true)
	users := e.Users()
	c2 := brokertest.NewClient(e)
	cr := craftResponse(e, "uni", startSAML(e, c2, "uni"))
	refused(e, postACS(e, c2, "uni", cr), http.StatusBadRequest, users)
	wantAudit(e, "signin.refused", "user_disabled")

	setDisabled(false)
	c3 := brokertest.NewClient(e)
	again := craftResponse(e, "uni", startSAML(e, c3, "uni"))
	again.A.ID = cr.A.ID // the refused assertion, under a fresh flow
	refused(e, postACS(e, c3, "uni", again), http.StatusBadRequest, users)
	wantAudit(e, "signin.refused", "replay")

	c4 := brokertest.NewClient(e)
	if res := postACS(e, c4, "uni", craftResponse(e, "uni", startSAML(e, c4, "uni"))); res.StatusCode != http.StatusSeeOther || e.Sessions() != 1 {
		t.Fatalf("sign-in after enabling: %d, %d sessions", res.StatusCode, e.Sessions())
	}
}
