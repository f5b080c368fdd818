package saml

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

const sloURL = "https://gatehouse.test/saml/idp-a/slo"

// logoutDoc builds a LogoutRequest (saml-core §3.7.1) or LogoutResponse
// (§3.7.2) from the env's IdP, signed with its key unless unsigned.
func (e *env) logoutDoc(kind, id, inResponseTo string, signed bool) []byte {
	el := etree.NewElement("samlp:" + kind)
	el.CreateAttr("xmlns:samlp", providertest.NSProtocol)
	el.CreateAttr("xmlns:saml", providertest.NSAssertion)
	el.CreateAttr("ID", id)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", t0.Format("2006-01-02T15:04:05.000Z"))
	el.CreateAttr("Destination", sloURL)
	if inResponseTo != "" {
		el.CreateAttr("InResponseTo", inResponseTo)
	}
	el.CreateElement("saml:Issuer").SetText(e.idp.IdP.Metadata().EntityID)
	if kind == "LogoutRequest" {
		n := el.CreateElement("saml:NameID")
		n.CreateAttr("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
		n.SetText("alice@corp.example")
		el.CreateElement("samlp:SessionIndex").SetText("idx1")
	} else {
		el.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Success")
	}
	if signed {
		el = e.signer.Sign(el)
	}
	doc := etree.NewDocument()
	doc.SetRoot(el)
	b, _ := doc.WriteToBytes()
	return b
}

// sloPost is doc posted to the SLO URL in field (HTTP-POST binding, saml-bindings §3.5).
func sloPost(field string, doc []byte) *http.Request {
	body := url.Values{field: {base64.StdEncoding.EncodeToString(doc)}}.Encode()
	r := httptest.NewRequest(http.MethodPost, sloURL, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// FuzzSAMLLogoutRequest feeds arbitrary XML to the IdP-initiated logout entry
// point (saml-profiles §4.4.4.1): no panic; a refusal returns nothing to act on
// (no replay key, no subject, no session matcher); an acceptance names only the
// seed's principal, alice, and carries the request's ID as its one replay key.
func FuzzSAMLLogoutRequest(f *testing.F) {
	e := newEnv(f)
	good := e.logoutDoc("LogoutRequest", "_lr1", "", true)
	if _, err := e.p.HandleLogoutRequest(context.Background(), sloPost("SAMLRequest", good)); err != nil {
		f.Fatalf("the seed LogoutRequest is refused: %v", err)
	}
	for _, s := range [][]byte{good, e.logoutDoc("LogoutRequest", "_lr2", "", false),
		e.logoutDoc("LogoutResponse", "_lr3", "_x", true), []byte("<samlp:LogoutRequest/>"), []byte("<!DOCTYPE x><x/>"), {}} {
		f.Add(s)
	}
	want := logoutKey("alice@corp.example")
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, err := e.p.HandleLogoutRequest(context.Background(), sloPost("SAMLRequest", doc))
		if err != nil {
			if out.ReplayKeys != nil || out.Subject != "" || out.LogoutKey != "" || out.Match != nil || out.Respond != nil {
				t.Fatalf("refused (%v) yet returned %+v", err, out)
			}
			return
		}
		if out.LogoutKey != want || len(out.ReplayKeys) != 1 || out.Match == nil || out.Respond == nil {
			t.Fatalf("accepted a logout of %q with replay keys %v", out.Subject, out.ReplayKeys)
		}
		if !out.Match(mustJSON(t, logoutState{NameID: "alice@corp.example", SessionIndex: "idx1"})) && len(out.SessionIndexes) == 0 {
			t.Fatalf("accepted, yet matches no session of alice: %+v", out)
		}
		if out.Match(mustJSON(t, logoutState{NameID: "bob@corp.example", SessionIndex: "idx1"})) {
			t.Fatalf("a logout for alice ends bob's session")
		}
	})
}

// FuzzSAMLLogoutResponse feeds arbitrary XML to the end of an SP-initiated
// logout (saml-profiles §4.4.3.4): no panic, and an accepted LogoutResponse
// answers the request this logout sent (its ID, InResponseTo, saml-core §3.2.2).
func FuzzSAMLLogoutResponse(f *testing.F) {
	e := newEnv(f)
	start, ok, err := e.p.BeginLogout(context.Background(), providers.LogoutParams{
		LogoutState: mustJSON(f, logoutState{NameID: "alice@corp.example", SessionIndex: "idx1"})})
	if err != nil || !ok {
		f.Fatalf("BeginLogout: %v %v", ok, err)
	}
	var pd logoutPending
	if err := json.Unmarshal(start.Pending, &pd); err != nil {
		f.Fatal(err)
	}
	good := e.logoutDoc("LogoutResponse", "_resp1", pd.RequestID, true)
	if err := e.p.CompleteLogout(context.Background(), sloPost("SAMLResponse", good), start.Pending); err != nil {
		f.Fatalf("the seed LogoutResponse is refused: %v", err)
	}
	for _, s := range [][]byte{good, e.logoutDoc("LogoutResponse", "_resp2", pd.RequestID, false),
		e.logoutDoc("LogoutResponse", "_resp3", "_other", true), e.logoutDoc("LogoutRequest", "_resp4", pd.RequestID, true),
		[]byte("<samlp:LogoutResponse/>"), {}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if err := e.p.CompleteLogout(context.Background(), sloPost("SAMLResponse", doc), start.Pending); err == nil &&
			!strings.Contains(string(doc), pd.RequestID) {
			t.Fatalf("accepted a LogoutResponse that does not answer %s: %q", pd.RequestID, doc)
		}
	})
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
