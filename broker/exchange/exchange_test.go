package exchange_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/broker/token"
)

// TestExchangeIDToken: an upstream ID token for an app the admin allowed
// becomes a token for the client's default API, with the user's scopes.
func TestExchangeIDToken(t *testing.T) {
	fx := newFixture(t)
	at, cl := fx.ok(fx.exchange("cli", fx.idToken(nil), typeID, "scope", "read payroll"))
	if cl.Subject != "alice" || !slices.Equal(cl.Audience, []string{rs1}) || cl.Scope != "read payroll" || cl.ClientID != "cli" ||
		cl.Provider != "corp" || cl.SessionID != "" || cl.GrantID == "" || cl.Act != nil || cl.AuthTime == 0 {
		t.Fatalf("claims %+v", cl)
	}
	info := fx.introspect("svc1", at)
	if info["active"] != true || info["sub"] != "alice" || info["client_id"] != "cli" {
		t.Fatalf("introspection %v", info)
	}
	if fx.exchanged() != 1 {
		t.Fatal("no token.exchanged event")
	}
	// Without scope: everything the user is entitled to of the API, no identity scopes.
	_, cl = fx.ok(fx.exchange("cli", fx.idToken(nil), typeID))
	if cl.Scope != "read write payroll" {
		t.Fatalf("scope %q", cl.Scope)
	}
	// The other API, by audience (RFC 8693) or resource (RFC 8707).
	for _, p := range []string{"audience", "resource"} {
		_, cl = fx.ok(fx.exchange("cli", fx.idToken(nil), typeID, p, rs2))
		if !slices.Equal(cl.Audience, []string{rs2}) || cl.Scope != "read" {
			t.Fatalf("%s: %+v", p, cl)
		}
	}
}

// TestExchangeSAMLAssertion: an assertion of the SAML IdP for this SP, naming
// the token endpoint as Recipient, becomes a token with the role rules' scopes.
func TestExchangeSAMLAssertion(t *testing.T) {
	fx := newFixture(t)
	at, cl := fx.ok(fx.exchange("cli", fx.assertion(), typeSAML, "scope", "read"))
	if cl.Subject != "carol" || cl.Provider != "uni" || cl.Scope != "read" || cl.SessionID != "" {
		t.Fatalf("claims %+v", cl)
	}
	if !fx.active("svc1", at) {
		t.Fatal("inactive")
	}
	// carol (teacher) is no staff: payroll is refused, and nothing is issued.
	n := fx.exchanged()
	fx.refused(fx.exchange("cli", fx.assertion(), typeSAML, "scope", "read payroll"), 400, "invalid_scope", n)
}

// TestExchangeLocalAudienceSwitch: svc1, the resource server of RS1, trades the
// user token it received from web1 for one at RS2, narrowed, acting with its
// own token; svc2 then does the same back to RS1: a two-hop act chain.
func TestExchangeLocalAudienceSwitch(t *testing.T) {
	fx := newFixture(t)
	user := fx.userToken("web1", rs1, "read", "write")
	at, cl := fx.ok(fx.exchange("svc1", user, typeAT, "audience", rs2, "scope", "read"))
	if cl.Subject != "alice" || !slices.Equal(cl.Audience, []string{rs2}) || cl.Scope != "read" || cl.ClientID != "svc1" ||
		cl.SessionID != "sess-a" || cl.GrantID != "grant-a" || cl.ACR != "urn:gatehouse:loa:1" || cl.Act != nil {
		t.Fatalf("claims %+v", cl)
	}
	if !fx.active("svc2", at) {
		t.Fatal("inactive at RS2's resource server")
	}
	// Down-scoping at the same API.
	_, cl = fx.ok(fx.exchange("svc1", user, typeAT, "audience", rs1, "scope", "write"))
	if cl.Scope != "write" {
		t.Fatalf("scope %q", cl.Scope)
	}

	// With actor tokens: act {sub: svc1}, then act {sub: svc2, act: {sub: svc1}}.
	hop1, cl := fx.ok(fx.exchange("svc1", user, typeAT, "audience", rs2, "actor_token", fx.clientToken("svc1"), "actor_token_type", typeAT))
	if cl.Act == nil || cl.Act.Subject != "svc1" || cl.Act.Act != nil {
		t.Fatalf("act %+v", cl.Act)
	}
	hop2, cl := fx.ok(fx.exchange("svc2", hop1, typeAT, "audience", rs1, "scope", "read",
		"actor_token", fx.clientToken("svc2"), "actor_token_type", typeAT))
	if cl.Act == nil || cl.Act.Subject != "svc2" || cl.Act.Act == nil || cl.Act.Act.Subject != "svc1" || cl.Act.Act.Act != nil ||
		cl.Subject != "alice" {
		t.Fatalf("act %+v", cl.Act)
	}
	info := fx.introspect("svc1", hop2)
	act, _ := info["act"].(map[string]any)
	prior, _ := act["act"].(map[string]any)
	if info["active"] != true || act["sub"] != "svc2" || prior["sub"] != "svc1" {
		t.Fatalf("introspection %v", info)
	}
	// The audit event lists the chain, outermost first.
	evs := fx.Audited("token.exchanged")
	if len(evs) == 0 || !slices.Contains([]string{string(evs[0].Details), string(evs[len(evs)-1].Details)},
		string(evs[0].Details)) {
		t.Fatal("no events")
	}
	found := false
	for _, ev := range evs {
		if ev.Actor == "client:svc2" && ev.Target == "alice" && containsAll(string(ev.Details), `"actors":["svc2","svc1"]`,
			`"subject_token_type":"`+typeAT+`"`, `"aud":"`+rs1+`"`, `"scopes_granted":["read"]`) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no token.exchanged event for the second hop: %v", evs)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !contains(s, x) {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool { return len(sub) == 0 || indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestExchangeLifetime: a token exchanged from a local token never outlives it.
func TestExchangeLifetime(t *testing.T) {
	fx := newFixture(t)
	now := fx.Clk.Now()
	user := fx.mint(token.AccessGrant{ClientID: "web1", Subject: "alice", Audience: rs1, Scopes: []string{"read"}, GrantID: "g1"}, 90e9)
	r := fx.exchange("svc1", user, typeAT, "audience", rs2)
	_, cl := fx.ok(r)
	if cl.Expiry != now.Unix()+90 || r.Body["expires_in"] != float64(90) {
		t.Fatalf("exp %d (now %d), expires_in %v", cl.Expiry, now.Unix(), r.Body["expires_in"])
	}
}

// TestExchangeRequestErrors: RFC 8693 §2.1 parameters.
func TestExchangeRequestErrors(t *testing.T) {
	fx := newFixture(t)
	id := fx.idToken(nil)
	for name, tc := range map[string]struct {
		form url.Values
		code string
	}{
		"no subject_token":               {url.Values{"subject_token_type": {typeID}}, "invalid_request"},
		"no subject_token_type":          {url.Values{"subject_token": {id}}, "invalid_request"},
		"refresh token requested":        {url.Values{"subject_token": {id}, "subject_token_type": {typeID}, "requested_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}}, "invalid_request"},
		"actor_token without type":       {url.Values{"subject_token": {id}, "subject_token_type": {typeID}, "actor_token": {id}}, "invalid_request"},
		"actor_token_type without token": {url.Values{"subject_token": {id}, "subject_token_type": {typeID}, "actor_token_type": {typeAT}}, "invalid_request"},
		"actor_token_type id_token":      {url.Values{"subject_token": {id}, "subject_token_type": {typeID}, "actor_token": {id}, "actor_token_type": {typeID}}, "invalid_request"},
		"two targets":                    {url.Values{"subject_token": {id}, "subject_token_type": {typeID}, "audience": {rs1, rs2}}, "invalid_target"},
		"resource and audience disagree": {url.Values{"subject_token": {id}, "subject_token_type": {typeID}, "audience": {rs1}, "resource": {rs2}}, "invalid_target"},
		"repeated scope":                 {url.Values{"subject_token": {id}, "subject_token_type": {typeID}, "scope": {"read", "write"}}, "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.form.Set("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange")
			fx.refused(fx.call("cli", "/oauth2/token", tc.form), http.StatusBadRequest, tc.code, 0)
		})
	}
	// resource and audience naming the same API are one target.
	fx.ok(fx.exchange("cli", id, typeID, "audience", rs2, "resource", rs2))
}
