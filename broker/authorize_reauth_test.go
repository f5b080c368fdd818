package broker

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker/oauth"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// jwtClaims decodes a JWT's payload (the signature is the RP's business here).
func jwtClaims(t *testing.T, tok any) map[string]any {
	t.Helper()
	s, _ := tok.(string)
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %v", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	var c map[string]any
	must(t, json.Unmarshal(b, &c))
	return c
}

// lastAuthorize is the last authorization request the upstream issuer received.
func lastAuthorize(t *testing.T, iss *providertest.OIDCIssuer) url.Values {
	t.Helper()
	reqs := iss.AuthorizeRequests()
	if len(reqs) == 0 {
		t.Fatal("the issuer received no authorization request")
	}
	return reqs[len(reqs)-1]
}

// reasons lists the reason of each signin.refused audit event.
func (e *authzEnv) refusalReasons() []string {
	var out []string
	for _, ev := range e.audited("signin.refused") {
		var d map[string]any
		json.Unmarshal(ev.Details, &d)
		r, _ := d["reason"].(string)
		out = append(out, r)
	}
	return out
}

// aliceReq is an authorization request whose login_hint picks alice's OP.
func aliceReq() authzReq {
	q := newAuthzReq("web", appCB, "openid notes.read")
	q.params.Set("login_hint", "alice@oidc.example")
	return q
}

// TestOIDC25_ReauthenticationReachesUpstream: prompt=login and an exceeded max_age
// ask the upstream OP for a new sign-in (prompt=login, max_age=0), and the ID
// token's auth_time is the OP's new one (oidcc-prompt-login, oidcc-max-age-1).
func TestOIDC25_ReauthenticationReachesUpstream(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(url.Values)
	}{
		{"prompt=login", func(v url.Values) { v.Set("prompt", "login") }},
		{"max_age exceeded", func(v url.Values) { v.Set("max_age", "60") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newAuthzEnv(t)
			b := e.signedIn()
			e.code(b, aliceReq()) // consent remembered
			if got := lastAuthorize(t, e.oidc); got.Has("prompt") || got.Has("max_age") {
				t.Fatalf("plain sign-in asked for re-authentication: %v", got)
			}
			e.clk.Add(10 * time.Minute)
			q := aliceReq()
			tc.set(q.params)
			before := e.sessions()
			cb := e.code(b, q)
			up := lastAuthorize(t, e.oidc)
			if up.Get("prompt") != "login" || up.Get("max_age") != "0" {
				t.Fatalf("upstream not asked to re-authenticate: %v", up)
			}
			if e.sessions() != before+1 {
				t.Errorf("sessions %d, want a new one", e.sessions())
			}
			st, tok := e.redeem("web", cb.Get("code"), q.verifier, appCB)
			if st != 200 {
				t.Fatalf("token: %d %v", st, tok)
			}
			if at := jwtClaims(t, tok["id_token"])["auth_time"]; at != float64(e.clk.Now().Unix()) {
				t.Errorf("auth_time %v, want the upstream's new sign-in %d", at, e.clk.Now().Unix())
			}
		})
	}
}

// TestOIDC25_UpstreamIgnoresReauthentication: an OP that answers prompt=login
// from its old session (auth_time before the request) is refused: the client
// gets login_required, one audit row, and no session or code is made.
func TestOIDC25_UpstreamIgnoresReauthentication(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	b := e.signedIn()
	e.clk.Add(10 * time.Minute)
	e.oidc.Set(func(k *providertest.Knobs) {
		k.Claims = map[string]any{"auth_time": e.clk.Now().Add(-5 * time.Minute).Unix()}
	})
	q := aliceReq()
	q.params.Set("prompt", "login")
	sessions := e.sessions()
	o := e.start(b, q)
	e.wantRedirectError(t, o, q, "login_required")
	if got := e.refusalReasons(); len(got) != 1 || got[0] != "stale_auth_time" {
		t.Errorf("audit: %v", got)
	}
	if e.sessions() != sessions {
		t.Errorf("a session was made")
	}
	e.wantNothingIssued(t)

	// Missing auth_time cannot show a new sign-in either.
	e.oidc.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"auth_time": nil} })
	e.wantRedirectError(t, e.start(b, q), q, "login_required")
	e.wantNothingIssued(t)
}

// TestOIDC25_FreshnessIsCheckedOnResume: a sign-in started without the pending
// request's demands (here: straight at /login/corp, answered from the OP's old
// session) does not satisfy prompt=login when the request is resumed.
func TestOIDC25_FreshnessIsCheckedOnResume(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	b := e.signedIn()
	e.clk.Add(10 * time.Minute)
	q := aliceReq()
	q.params.Set("prompt", "login")
	res := e.get(b, q.url())
	loc, _ := url.Parse(res.Header.Get("Location"))
	resume := loc.Query().Get("return_to")
	if loc.Path != "/login" || !strings.HasPrefix(resume, oauth.ResumePath) {
		t.Fatalf("not sent to sign in: %s", loc)
	}
	e.oidc.Set(func(k *providertest.Knobs) {
		k.Claims = map[string]any{"auth_time": e.clk.Now().Add(-5 * time.Minute).Unix()}
	})
	e.drive(b, e.get(b, "/login/corp")) // a new session, but no new sign-in upstream
	res = e.get(b, resume)
	if loc, _ := url.Parse(res.Header.Get("Location")); res.StatusCode != http.StatusSeeOther || loc.Path != "/login" {
		t.Fatalf("resumed without a fresh sign-in: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	e.wantNothingIssued(t)
}

// TestOIDC25_EssentialACR: an essential acr (claims parameter, OIDC Core §5.5.1.1)
// is asked for upstream as acr_values; a weaker acr is access_denied with one
// audit row; the right one gives a code whose ID token carries the upstream's
// acr and amr. Voluntary acr_values are asked for but not enforced.
func TestOIDC25_EssentialACR(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	const mfa, pwd = "urn:example:mfa", "urn:example:pwd"
	essential := aliceReq()
	essential.params.Set("claims", `{"id_token":{"acr":{"essential":true,"values":["`+mfa+`"]}}}`)
	essential.params.Set("acr_values", pwd)

	e.oidc.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"acr": pwd, "amr": []any{"pwd"}} })
	b := newClient(e.signinEnv)
	o := e.start(b, essential)
	e.wantRedirectError(t, o, essential, "access_denied")
	if up := lastAuthorize(t, e.oidc); up.Get("acr_values") != mfa+" "+pwd {
		t.Errorf("upstream acr_values %q", up.Get("acr_values"))
	}
	if got := e.refusalReasons(); len(got) != 1 || got[0] != "acr_not_satisfied" {
		t.Errorf("audit: %v", got)
	}
	if e.sessions() != 0 {
		t.Errorf("a session was made")
	}
	e.wantNothingIssued(t)

	// Voluntary: asked for, not met, still a code with the acr the OP gave.
	voluntary := aliceReq()
	voluntary.params.Set("acr_values", mfa)
	cb := e.code(b, voluntary)
	_, tok := e.redeem("web", cb.Get("code"), voluntary.verifier, appCB)
	if c := jwtClaims(t, tok["id_token"]); c["acr"] != pwd {
		t.Errorf("voluntary: acr %v", c["acr"])
	}

	// The signed-in session's pwd does not meet the essential mfa: a step-up
	// sign-in, and the OP's mfa reaches the ID token.
	e.oidc.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"acr": mfa, "amr": []any{"pwd", "otp"}} })
	essential = aliceReq()
	essential.params.Set("claims", `{"id_token":{"acr":{"essential":true,"values":["`+mfa+`"]}}}`)
	cb = e.code(b, essential)
	if e.sessions() != 2 {
		t.Errorf("sessions %d, want the step-up's new one", e.sessions())
	}
	_, tok = e.redeem("web", cb.Get("code"), essential.verifier, appCB)
	c := jwtClaims(t, tok["id_token"])
	if amr, _ := c["amr"].([]any); c["acr"] != mfa || len(amr) != 2 || amr[1] != "otp" {
		t.Errorf("step-up ID token acr %v amr %v", c["acr"], c["amr"])
	}
}

// TestOIDC25_SAMLForceAuthn: prompt=login reaches a SAML IdP as ForceAuthn, and
// its new AuthnInstant is the ID token's auth_time; an IdP that ignores
// ForceAuthn is refused with login_required.
func TestOIDC25_SAMLForceAuthn(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	idp := e.addSAML("uni", "uni.example", false, crewjam.Session{ID: "s1", Index: "i1", NameID: "carol@uni.example",
		NameIDFormat: string(crewjam.EmailAddressNameIDFormat), UserEmail: "carol@uni.example", UserCommonName: "Carol",
		CreateTime: e.clk.Now().Add(-time.Hour), ExpireTime: e.clk.Now().Add(24 * time.Hour)})
	const mfa = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"
	b := newClient(e.signinEnv)
	q := aliceReq()
	q.params.Set("login_hint", "carol@uni.example")
	q.params.Set("prompt", "login")
	q.params.Set("acr_values", mfa)
	cb := e.code(b, q)
	reqs := idp.AuthnRequests()
	if len(reqs) != 1 || reqs[0].ForceAuthn == nil || !*reqs[0].ForceAuthn {
		t.Fatalf("AuthnRequest without ForceAuthn: %+v", reqs)
	}
	if rac := reqs[0].RequestedAuthnContext; rac == nil || len(rac.ClassRefs()) != 1 || rac.ClassRefs()[0] != mfa {
		t.Errorf("RequestedAuthnContext %+v", rac)
	}
	_, tok := e.redeem("web", cb.Get("code"), q.verifier, appCB)
	if at := jwtClaims(t, tok["id_token"])["auth_time"]; at != float64(e.clk.Now().Unix()) {
		t.Errorf("auth_time %v, want the IdP's new AuthnInstant %d", at, e.clk.Now().Unix())
	}

	idp.IgnoreForceAuthn.Store(true)
	q = aliceReq()
	q.params.Set("login_hint", "carol@uni.example")
	q.params.Set("prompt", "login")
	codes := e.count("auth_codes")
	e.wantRedirectError(t, e.start(b, q), q, "login_required")
	if e.count("auth_codes") != codes {
		t.Error("a code was issued")
	}
}

// TestSelectAccount: prompt=select_account shows the sign-in page with the
// signed-in account as one choice; continuing with it needs no new sign-in,
// another account asks the upstream OP to let the person choose
// (prompt=select_account). "Not you?" on the consent page does the same without
// offering the current account.
func TestSelectAccount(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t)
	b := e.signedIn()
	e.code(b, aliceReq())
	q := aliceReq()
	q.params.Set("prompt", "select_account")
	q.params.Set("login_hint", "alice@oidc.example") // would skip the page otherwise
	o := e.start(b, q)
	if o.app != nil || !strings.Contains(o.page, `data-testid="continue-as"`) || !strings.Contains(o.page, `data-testid="provider-corp"`) {
		t.Fatalf("no account choice: %d %v\n%s", o.status, o.app, o.page)
	}
	sessions := e.sessions()
	cont := regexpAttr(t, o.page, "continue-as")
	if o := e.drive(b, e.get(b, cont)); o.fields.Get("code") == "" || e.sessions() != sessions {
		t.Fatalf("continue as alice: %v sessions %d", o.fields, e.sessions())
	}

	o = e.start(b, q)
	o = e.drive(b, e.get(b, regexpAttr(t, o.page, "provider-corp")))
	if o.fields.Get("code") == "" || e.sessions() != sessions+1 {
		t.Fatalf("another account: %v sessions %d\n%s", o.fields, e.sessions(), o.page)
	}
	if up := lastAuthorize(t, e.oidc); up.Get("prompt") != "select_account" {
		t.Errorf("upstream prompt %q", up.Get("prompt"))
	}
}

// regexpAttr returns the href of the element with data-testid id.
func regexpAttr(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `data-testid="`+id+`"`)
	if i < 0 {
		t.Fatalf("no %s in page", id)
	}
	start := strings.LastIndex(page[:i], "<")
	tag := page[start : start+strings.Index(page[start:], ">")]
	j := strings.Index(tag, `href="`)
	if j < 0 {
		t.Fatalf("%s has no href", id)
	}
	href := tag[j+6:]
	return html.UnescapeString(href[:strings.IndexByte(href, '"')])
}
