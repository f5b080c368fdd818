package signin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/signin"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers/providertest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestEmailLinkCrossProviderTakeover: a provider the admin trusts for email
// linking, for its own domain, asserts the verified email of a person who signs
// in through another provider (in another letter case). It is not that
// person's provider: nobody is signed in as them, nothing is linked, and the
// caller can only prove the account or keep a separate one.
func TestEmailLinkCrossProviderTakeover(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", true, brokertest.AliceClaims())
	evil := brokertest.AliceClaims()
	evil["sub"], evil["email"], evil["name"] = "mallory", "ALICE@OIDC.EXAMPLE", "Mallory"
	e.AddOIDC("partner", "partner.example", true, evil)
	e.SignIn(brokertest.NewClient(e), "alice@oidc.example")
	victim, err := e.DB.Identities().UserOf(context.Background(), "corp", "alice-sub")
	if err != nil {
		t.Fatal(err)
	}

	c := brokertest.NewClient(e)
	_, page := e.SignIn(c, "mallory@partner.example")
	if !strings.Contains(page, `data-testid="link-choice"`) {
		t.Fatalf("no link choice:\n%s", page)
	}
	if e.SessionsOf(victim.ID) != 1 || e.Identities() != 1 || e.Users() != 1 {
		t.Fatalf("before the choice: victim sessions %d, identities %d, users %d", e.SessionsOf(victim.ID), e.Identities(), e.Users())
	}
	if len(e.Audited("identity.linked")) != 0 {
		t.Error("identity.linked audited")
	}
	_, page = e.ChooseLink(c, page, "new")
	mallory, err := e.DB.Identities().UserOf(context.Background(), "partner", "mallory")
	if err != nil {
		t.Fatal(err)
	}
	if mallory.ID == victim.ID || e.SessionsOf(victim.ID) != 1 {
		t.Fatalf("partner's identity joined the victim's account (sessions %d)", e.SessionsOf(victim.ID))
	}
	if !strings.Contains(page, "Mallory") {
		t.Errorf("not signed in to the separate account:\n%s", page)
	}
	if got, _ := e.DB.Users().Get(context.Background(), victim.ID); got != victim {
		t.Errorf("victim's account changed: %+v -> %+v", victim, got)
	}
}

// newLinkChoiceEnv has alice's account, signed in through corp (OIDC), and uni,
// a SAML provider whose emails count as verified but that vouches for no
// domain: a uni sign-in with alice's email gets the link choice.
func newLinkChoiceEnv(t *testing.T) (*brokertest.SigninEnv, *providertest.OIDCIssuer) {
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	iss := e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.AddSAML("uni", "saml.example", false, brokertest.Carol(), func(s *upstream.Spec) { s.SAML.EmailsVerified = true })
	e.SignIn(brokertest.NewClient(e), "alice@oidc.example")
	return e, iss
}

// samlSignInAs signs c in at uni as nameID with email, and returns the page
// it ends on.
func samlSignInAs(e *brokertest.SigninEnv, c *http.Client, nameID, email string) string {
	e.T.Helper()
	cr := craftResponse(e, "uni", startSAML(e, c, "uni"))
	cr.A.NameID = nameID
	cr.A.Attributes = map[string][]string{"mail": {email}, "displayName": {nameID}}
	_, page := e.Follow(c, postACS(e, c, "uni", cr))
	return page
}

// TestLinkByProofOfBoth: a person whose SAML sign-in carries the verified email
// of their existing account links the two by signing in the way the account
// does (freshly), and is then signed in to it. The choice is used once.
func TestLinkByProofOfBoth(t *testing.T) {
	t.Parallel()
	e, iss := newLinkChoiceEnv(t)
	alice, _ := e.DB.Identities().UserOf(context.Background(), "corp", "alice-sub")
	c := brokertest.NewClient(e)
	page := samlSignInAs(e, c, "alice-at-uni", "alice@OIDC.example")
	choice := brokertest.FormFields(t, page, signin.LinkChoicePath)
	res, page := e.ChooseLink(c, page, "corp")
	if !strings.Contains(page, `data-testid="identity-uni"`) {
		t.Fatalf("not on alice's account with uni linked: %s\n%s", res.Request.URL, page)
	}
	if q := iss.AuthorizeRequests(); q[len(q)-1].Get("prompt") != "login" {
		t.Errorf("proof sign-in was not fresh: %v", q[len(q)-1])
	}
	got, err := e.DB.Identities().Get(context.Background(), "uni", "alice-at-uni")
	if err != nil || got.UserID != alice.ID {
		t.Fatalf("uni identity: %+v, %v; want linked to %s", got, err, alice.ID)
	}
	if e.Users() != 1 || e.SessionsOf(alice.ID) != 2 {
		t.Errorf("users %d, alice's sessions %d", e.Users(), e.SessionsOf(alice.ID))
	}
	found := false
	for _, ev := range e.Audited("identity.linked") {
		found = found || strings.Contains(string(ev.Details), `"by":"proof_of_both"`)
	}
	if !found {
		t.Error("no identity.linked by proof_of_both")
	}

	// The choice again, from a copy of the browser as it was: nothing happens.
	before := e.Identities()
	replay := brokertest.NewClient(e)
	replay.Jar.SetCookies(mustURL(e.TS.URL), c.Jar.Cookies(mustURL(e.TS.URL)))
	choice.Set("choice", "new")
	if res := e.PostForm(replay, signin.LinkChoicePath, choice); res.StatusCode < 400 {
		t.Errorf("replayed choice: %d", res.StatusCode)
	}
	if e.Identities() != before || e.Users() != 1 {
		t.Errorf("replayed choice stored something: identities %d -> %d, users %d", before, e.Identities(), e.Users())
	}
}

// TestLinkProofMustBeAnAccount: the proving sign-in resolves to no account
// (another person at that provider): nothing is linked, nobody is signed in.
func TestLinkProofMustBeAnAccount(t *testing.T) {
	t.Parallel()
	e, iss := newLinkChoiceEnv(t)
	c := brokertest.NewClient(e)
	page := samlSignInAs(e, c, "mallory-at-uni", "alice@oidc.example")
	iss.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"sub": "someone-else"} })
	sessions := e.Sessions()
	res, _ := e.ChooseLink(c, page, "corp")
	if res.StatusCode != http.StatusConflict {
		t.Errorf("proof by an unlinked identity: %d", res.StatusCode)
	}
	if _, err := e.DB.Identities().Get(context.Background(), "uni", "mallory-at-uni"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("uni identity stored: %v", err)
	}
	if e.Sessions() != sessions || e.Users() != 1 {
		t.Errorf("sessions %d -> %d, users %d", sessions, e.Sessions(), e.Users())
	}
}

// TestProfileFollowsLatestSignIn: the user's email, verified flag and name
// are what the identity signed in with last says; an identity that sends no
// name leaves the name alone. email_verified is the upstream's word, whatever
// the provider's trust for linking.
func TestProfileFollowsLatestSignIn(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	iss := e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.SignIn(brokertest.NewClient(e), "alice@oidc.example")
	u, _ := e.DB.Identities().UserOf(context.Background(), "corp", "alice-sub")
	if u.Email != "alice@oidc.example" || !u.EmailVerified || u.Name != "Alice" {
		t.Fatalf("first sign-in: %+v (email_verified brokertest.Must follow the untrusted provider's true)", u)
	}
	iss.Set(func(k *providertest.Knobs) {
		k.Claims = map[string]any{"email": "alice.smith@oidc.example", "email_verified": false, "name": "Alice Smith"}
	})
	e.SignIn(brokertest.NewClient(e), "alice@oidc.example")
	u, _ = e.DB.Users().Get(context.Background(), u.ID)
	if u.Email != "alice.smith@oidc.example" || u.EmailVerified || u.Name != "Alice Smith" {
		t.Errorf("after a sign-in with a new profile: %+v", u)
	}
	iss.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"name": nil} })
	e.SignIn(brokertest.NewClient(e), "alice@oidc.example")
	u, _ = e.DB.Users().Get(context.Background(), u.ID)
	if u.Name != "Alice Smith" || u.Email != "alice@oidc.example" || !u.EmailVerified {
		t.Errorf("after a sign-in without a name: %+v", u)
	}
}
