package oauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/providers/providertest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// aliceTokens signs alice in and returns the token response web gets for her.
func aliceTokens(t *testing.T, e *brokertest.AuthzEnv) map[string]any {
	t.Helper()
	q := aliceReq()
	cb := e.Code(e.SignedIn(), q)
	st, tok := e.Redeem("web", cb.Get("code"), q.Verifier, brokertest.AppCB)
	if st != 200 {
		t.Fatalf("token: %d %v", st, tok)
	}
	return tok
}

// TestIDTokenHint: id_token_hint (OIDC Core §3.1.2.1; the oidcc-id-token-hint
// conformance check) names the user the answer brokertest.Must be about. Signed in as that
// user, prompt=none succeeds, even with the hint expired; as someone else it is
// login_required; a hint that is not our ID token for this client is refused as
// invalid_request; and nothing is issued by a refusal.
func TestIDTokenHint(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	tok := aliceTokens(t, e)
	hint := tok["id_token"].(string)
	b := e.SignedIn()
	withHint := func(client, redirect, hint string) brokertest.AuthzReq {
		q := brokertest.NewAuthzReq(client, redirect, "openid notes.read")
		q.Params.Set("prompt", "none")
		q.Params.Set("id_token_hint", hint)
		return q
	}

	e.Clk.Add(15 * time.Minute) // the hint has expired: still a hint of a past session
	if cb := e.Code(b, withHint("web", brokertest.AppCB, hint)); cb.Get("code") == "" {
		t.Fatalf("hint for the signed-in user: %v", cb)
	}

	codes, consents := e.Count("auth_codes"), e.Count("consents")
	nothingIssued := func(what string) {
		t.Helper()
		if e.Count("auth_codes") != codes || e.Count("consents") != consents {
			t.Errorf("%s: a code or consent was stored", what)
		}
	}
	for name, q := range map[string]brokertest.AuthzReq{
		"garbage":         withHint("web", brokertest.AppCB, "not.a.jwt"),
		"tampered":        withHint("web", brokertest.AppCB, flipChar(hint, len(hint)-10)),
		"other client's":  withHint("web2", "https://app2.test/cb", hint),
		"an access token": withHint("web", brokertest.AppCB, tok["access_token"].(string)),
		"too long":        withHint("web", brokertest.AppCB, strings.Repeat("a", 9<<10)),
	} {
		e.WantRedirectError(t, e.Start(b, q), q, "invalid_request")
		nothingIssued(name + " hint")
	}

	// Bob, another user of the same OP, is signed in now.
	e.OIDC.Set(func(k *providertest.Knobs) {
		k.Claims = map[string]any{"sub": "bob-sub", "email": "bob@oidc.example", "name": "Bob"}
	})
	bob := brokertest.NewClient(e.SigninEnv)
	e.SignIn(bob, "bob@oidc.example")
	q := withHint("web", brokertest.AppCB, hint)
	e.WantRedirectError(t, e.Start(bob, q), q, "login_required")
	nothingIssued("bob on alice's hint")
}

// TestIDTokenHintOffersOneSignIn: interactively, a hint naming someone other than
// the signed-in person sends them to sign in again; signing in as the wrong person
// again is login_required, signing in as the named one gets the code.
func TestIDTokenHintOffersOneSignIn(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	hint := aliceTokens(t, e)["id_token"].(string)
	e.OIDC.Set(func(k *providertest.Knobs) {
		k.Claims = map[string]any{"sub": "bob-sub", "email": "bob@oidc.example", "name": "Bob"}
	})
	bob := brokertest.NewClient(e.SigninEnv)
	e.SignIn(bob, "bob@oidc.example")

	// The sign-in page offers the accounts; the person picks the OP.
	signInAgain := func(q brokertest.AuthzReq) brokertest.Outcome {
		o := e.Start(bob, q)
		if o.App != nil || !strings.Contains(o.Page, `data-testid="provider-corp"`) {
			t.Fatalf("want the sign-in page, got %d %v", o.Status, o.Fields)
		}
		return e.Drive(bob, e.Get(bob, regexpAttr(t, o.Page, "provider-corp")))
	}
	q := aliceReq()
	q.Params.Set("id_token_hint", hint)
	// Bob signs in again when asked (the OP still answers as bob).
	e.WantRedirectError(t, signInAgain(q), q, "login_required")
	if n := e.Count("auth_codes"); n != 1 {
		t.Errorf("%d codes, want only alice's first one", n)
	}

	// Alice takes over the OP session when asked: the request succeeds.
	e.OIDC.Set(func(k *providertest.Knobs) { k.Claims = nil })
	q = aliceReq()
	q.Params.Set("id_token_hint", hint)
	o := signInAgain(q)
	if o.App == nil && strings.Contains(o.Page, `data-testid="consent"`) {
		o = e.Decide(bob, o.Page, "approve")
	}
	cb := o.Fields
	st, tok := e.Redeem("web", cb.Get("code"), q.Verifier, brokertest.AppCB)
	if st != 200 || jwtClaims(t, tok["id_token"])["sub"] != jwtClaims(t, hint)["sub"] {
		t.Fatalf("token after signing in as the hinted user: %d %v", st, tok)
	}
}
