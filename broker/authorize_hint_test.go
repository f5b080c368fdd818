package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/providers/providertest"
)

// aliceTokens signs alice in and returns the token response web gets for her.
func aliceTokens(t *testing.T, e *authzEnv) map[string]any {
	t.Helper()
	q := aliceReq()
	cb := e.code(e.signedIn(), q)
	st, tok := e.redeem("web", cb.Get("code"), q.verifier, appCB)
	if st != 200 {
		t.Fatalf("token: %d %v", st, tok)
	}
	return tok
}

// TestIDTokenHint: id_token_hint (OIDC Core §3.1.2.1; the oidcc-id-token-hint
// conformance check) names the user the answer must be about. Signed in as that
// user, prompt=none succeeds, even with the hint expired; as someone else it is
// login_required; a hint that is not our ID token for this client is refused as
// invalid_request; and nothing is issued by a refusal.
func TestIDTokenHint(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	tok := aliceTokens(t, e)
	hint := tok["id_token"].(string)
	b := e.signedIn()
	withHint := func(client, redirect, hint string) authzReq {
		q := newAuthzReq(client, redirect, "openid notes.read")
		q.params.Set("prompt", "none")
		q.params.Set("id_token_hint", hint)
		return q
	}

	e.clk.Add(15 * time.Minute) // the hint has expired: still a hint of a past session
	if cb := e.code(b, withHint("web", appCB, hint)); cb.Get("code") == "" {
		t.Fatalf("hint for the signed-in user: %v", cb)
	}

	codes, consents := e.count("auth_codes"), e.count("consents")
	nothingIssued := func(what string) {
		t.Helper()
		if e.count("auth_codes") != codes || e.count("consents") != consents {
			t.Errorf("%s: a code or consent was stored", what)
		}
	}
	for name, q := range map[string]authzReq{
		"garbage":         withHint("web", appCB, "not.a.jwt"),
		"tampered":        withHint("web", appCB, flipChar(hint, len(hint)-10)),
		"other client's":  withHint("web2", "https://app2.test/cb", hint),
		"an access token": withHint("web", appCB, tok["access_token"].(string)),
		"too long":        withHint("web", appCB, strings.Repeat("a", 9<<10)),
	} {
		e.wantRedirectError(t, e.start(b, q), q, "invalid_request")
		nothingIssued(name + " hint")
	}

	// Bob, another user of the same OP, is signed in now.
	e.oidc.Set(func(k *providertest.Knobs) {
		k.Claims = map[string]any{"sub": "bob-sub", "email": "bob@oidc.example", "name": "Bob"}
	})
	bob := newClient(e.signinEnv)
	e.signIn(bob, "bob@oidc.example")
	q := withHint("web", appCB, hint)
	e.wantRedirectError(t, e.start(bob, q), q, "login_required")
	nothingIssued("bob on alice's hint")
}

// TestIDTokenHintOffersOneSignIn: interactively, a hint naming someone other than
// the signed-in person sends them to sign in again; signing in as the wrong person
// again is login_required, signing in as the named one gets the code.
func TestIDTokenHintOffersOneSignIn(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	hint := aliceTokens(t, e)["id_token"].(string)
	e.oidc.Set(func(k *providertest.Knobs) {
		k.Claims = map[string]any{"sub": "bob-sub", "email": "bob@oidc.example", "name": "Bob"}
	})
	bob := newClient(e.signinEnv)
	e.signIn(bob, "bob@oidc.example")

	// The sign-in page offers the accounts; the person picks the OP.
	signInAgain := func(q authzReq) outcome {
		o := e.start(bob, q)
		if o.app != nil || !strings.Contains(o.page, `data-testid="provider-corp"`) {
			t.Fatalf("want the sign-in page, got %d %v", o.status, o.fields)
		}
		return e.drive(bob, e.get(bob, regexpAttr(t, o.page, "provider-corp")))
	}
	q := aliceReq()
	q.params.Set("id_token_hint", hint)
	// Bob signs in again when asked (the OP still answers as bob).
	e.wantRedirectError(t, signInAgain(q), q, "login_required")
	if n := e.count("auth_codes"); n != 1 {
		t.Errorf("%d codes, want only alice's first one", n)
	}

	// Alice takes over the OP session when asked: the request succeeds.
	e.oidc.Set(func(k *providertest.Knobs) { k.Claims = nil })
	q = aliceReq()
	q.params.Set("id_token_hint", hint)
	o := signInAgain(q)
	if o.app == nil && strings.Contains(o.page, `data-testid="consent"`) {
		o = e.decide(bob, o.page, "approve")
	}
	cb := o.fields
	st, tok := e.redeem("web", cb.Get("code"), q.verifier, appCB)
	if st != 200 || jwtClaims(t, tok["id_token"])["sub"] != jwtClaims(t, hint)["sub"] {
		t.Fatalf("token after signing in as the hinted user: %d %v", st, tok)
	}
}
