package oauth_test

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

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
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
	brokertest.Must(t, err)
	var c map[string]any
	brokertest.Must(t, json.Unmarshal(b, &c))
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
func refusalReasons(e *brokertest.AuthzEnv) []string {
	var out []string
	for _, ev := range e.Audited("signin.refused") {
		var d map[string]any
		json.Unmarshal(ev.Details, &d)
		r, _ := d["reason"].(string)
		out = append(out, r)
	}
	return out
}

// aliceReq is an authorization request whose login_hint picks alice's OP.
func aliceReq() brokertest.AuthzReq {
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
	q.Params.Set("login_hint", "alice@oidc.example")
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
			e := brokertest.NewAuthzEnv(t)
			b := e.SignedIn()
			e.Code(b, aliceReq()) // consent remembered
			if got := lastAuthorize(t, e.OIDC); got.Has("prompt") || got.Has("max_age") {
				t.Fatalf("plain sign-in asked for re-authentication: %v", got)
			}
			e.Clk.Add(10 * time.Minute)
			q := aliceReq()
			tc.set(q.Params)
			before := e.Sessions()
			cb := e.Code(b, q)
			up := lastAuthorize(t, e.OIDC)
			if up.Get("prompt") != "login" || up.Get("max_age") != "0" {
				t.Fatalf("upstream not asked to re-authenticate: %v", up)
			}
			if e.Sessions() != before+1 {
				t.Errorf("sessions %d, want a new one", e.Sessions())
			}
			st, tok := e.Redeem("web", cb.Get("code"), q.Verifier, brokertest.AppCB)
			if st != 200 {
				t.Fatalf("token: %d %v", st, tok)
			}
			if at := jwtClaims(t, tok["id_token"])["auth_time"]; at != float64(e.Clk.Now().Unix()) {
				t.Errorf("auth_time %v, want the upstream's new sign-in %d", at, e.Clk.Now().Unix())
			}
		})
	}
}

// TestOIDC25_UpstreamIgnoresReauthentication: an OP that answers prompt=login
// from its old session (auth_time before the request) is refused: the client
// gets login_required, one audit row, and no session or code is made.
func TestOIDC25_UpstreamIgnoresReauthentication(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	e.Clk.Add(10 * time.Minute)
	e.OIDC.Set(func(k *providertest.Knobs) {
		k.Claims = map[string]any{"auth_time": e.Clk.Now().Add(-5 * time.Minute).Unix()}
	})
	q := aliceReq()
	q.Params.Set("prompt", "login")
	sessions := e.Sessions()
	o := e.Start(b, q)
	e.WantRedirectError(t, o, q, "login_required")
	if got := refusalReasons(e); len(got) != 1 || got[0] != "stale_auth_time" {
		t.Errorf("audit: %v", got)
	}
	if e.Sessions() != sessions {
		t.Errorf("a session was made")
	}
	e.WantNothingIssued(t)

	// Missing auth_time cannot show a new sign-in either.
	e.OIDC.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"auth_time": nil} })
	e.WantRedirectError(t, e.Start(b, q), q, "login_required")
	e.WantNothingIssued(t)
}

// TestOIDC25_FreshnessIsCheckedOnResume: a sign-in started without the pending
// request's demands (here: straight at /login/corp, answered from the OP's old
// session) does not satisfy prompt=login when the request is resumed.
func TestOIDC25_FreshnessIsCheckedOnResume(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	e.Clk.Add(10 * time.Minute)
	q := aliceReq()
	q.Params.Set("prompt", "login")
	res := e.Get(b, q.URL())
	loc, _ := url.Parse(res.Header.Get("Location"))
	resume := loc.Query().Get("return_to")
	if loc.Path != "/login" || !strings.HasPrefix(resume, oauth.ResumePath) {
		t.Fatalf("not sent to sign in: %s", loc)
	}
	e.OIDC.Set(func(k *providertest.Knobs) {
		k.Claims = map[string]any{"auth_time": e.Clk.Now().Add(-5 * time.Minute).Unix()}
	})
	e.Drive(b, e.Get(b, "/login/corp")) // a new session, but no new sign-in upstream
	res = e.Get(b, resume)
	if loc, _ := url.Parse(res.Header.Get("Location")); res.StatusCode != http.StatusSeeOther || loc.Path != "/login" {
		t.Fatalf("resumed without a fresh sign-in: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	e.WantNothingIssued(t)
}

// TestOIDC25_EssentialACR: an essential acr (claims parameter, OIDC Core §5.5.1.1)
// is asked for upstream as acr_values; a weaker acr is access_denied with one
// audit row; the right one gives a code whose ID token carries the upstream's
// acr and amr. Voluntary acr_values are asked for but not enforced.
func TestOIDC25_EssentialACR(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	const mfa, pwd = "urn:example:mfa", "urn:example:pwd"
	essential := aliceReq()
	essential.Params.Set("claims", `{"id_token":{"acr":{"essential":true,"values":["`+mfa+`"]}}}`)
	essential.Params.Set("acr_values", pwd)

	e.OIDC.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"acr": pwd, "amr": []any{"pwd"}} })
	b := brokertest.NewClient(e.SigninEnv)
	o := e.Start(b, essential)
	e.WantRedirectError(t, o, essential, "access_denied")
	if up := lastAuthorize(t, e.OIDC); up.Get("acr_values") != mfa+" "+pwd {
		t.Errorf("upstream acr_values %q", up.Get("acr_values"))
	}
	if got := refusalReasons(e); len(got) != 1 || got[0] != "acr_not_satisfied" {
		t.Errorf("audit: %v", got)
	}
	if e.Sessions() != 0 {
		t.Errorf("a session was made")
	}
	e.WantNothingIssued(t)

	// Voluntary: asked for, not met, still a code with the acr the OP gave.
	voluntary := aliceReq()
	voluntary.Params.Set("acr_values", mfa)
	cb := e.Code(b, voluntary)
	_, tok := e.Redeem("web", cb.Get("code"), voluntary.Verifier, brokertest.AppCB)
	if c := jwtClaims(t, tok["id_token"]); c["acr"] != pwd {
		t.Errorf("voluntary: acr %v", c["acr"])
	}

	// The signed-in session's pwd does not meet the essential mfa: a step-up
	// sign-in, and the OP's mfa reaches the ID token.
	e.OIDC.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"acr": mfa, "amr": []any{"pwd", "otp"}} })
	essential = aliceReq()
	essential.Params.Set("claims", `{"id_token":{"acr":{"essential":true,"values":["`+mfa+`"]}}}`)
	cb = e.Code(b, essential)
	if e.Sessions() != 2 {
		t.Errorf("sessions %d, want the step-up's new one", e.Sessions())
	}
	_, tok = e.Redeem("web", cb.Get("code"), essential.Verifier, brokertest.AppCB)
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
	e := brokertest.NewAuthzEnv(t)
	idp := e.AddSAML("uni", "uni.example", false, crewjam.Session{ID: "s1", Index: "i1", NameID: "carol@uni.example",
		NameIDFormat: string(crewjam.EmailAddressNameIDFormat), UserEmail: "carol@uni.example", UserCommonName: "Carol",
		CreateTime: e.Clk.Now().Add(-time.Hour), ExpireTime: e.Clk.Now().Add(24 * time.Hour)})
	const mfa = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"
	b := brokertest.NewClient(e.SigninEnv)
	q := aliceReq()
	q.Params.Set("login_hint", "carol@uni.example")
	q.Params.Set("prompt", "login")
	q.Params.Set("acr_values", mfa)
	cb := e.Code(b, q)
	reqs := idp.AuthnRequests()
	if len(reqs) != 1 || reqs[0].ForceAuthn == nil || !*reqs[0].ForceAuthn {
		t.Fatalf("AuthnRequest without ForceAuthn: %+v", reqs)
	}
	if rac := reqs[0].RequestedAuthnContext; rac == nil || len(rac.ClassRefs()) != 1 || rac.ClassRefs()[0] != mfa {
		t.Errorf("RequestedAuthnContext %+v", rac)
	}
	_, tok := e.Redeem("web", cb.Get("code"), q.Verifier, brokertest.AppCB)
	if at := jwtClaims(t, tok["id_token"])["auth_time"]; at != float64(e.Clk.Now().Unix()) {
		t.Errorf("auth_time %v, want the IdP's new AuthnInstant %d", at, e.Clk.Now().Unix())
	}

	idp.IgnoreForceAuthn.Store(true)
	q = aliceReq()
	q.Params.Set("login_hint", "carol@uni.example")
	q.Params.Set("prompt", "login")
	codes := e.Count("auth_codes")
	e.WantRedirectError(t, e.Start(b, q), q, "login_required")
	if e.Count("auth_codes") != codes {
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
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	e.Code(b, aliceReq())
	q := aliceReq()
	q.Params.Set("prompt", "select_account")
	q.Params.Set("login_hint", "alice@oidc.example") // would skip the page otherwise
	o := e.Start(b, q)
	if o.App != nil || !strings.Contains(o.Page, `data-testid="continue-as"`) || !strings.Contains(o.Page, `data-testid="provider-corp"`) {
		t.Fatalf("no account choice: %d %v\n%s", o.Status, o.App, o.Page)
	}
	sessions := e.Sessions()
	cont := regexpAttr(t, o.Page, "continue-as")
	if o := e.Drive(b, e.Get(b, cont)); o.Fields.Get("code") == "" || e.Sessions() != sessions {
		t.Fatalf("continue as alice: %v sessions %d", o.Fields, e.Sessions())
	}

	o = e.Start(b, q)
	o = e.Drive(b, e.Get(b, regexpAttr(t, o.Page, "provider-corp")))
	if o.Fields.Get("code") == "" || e.Sessions() != sessions+1 {
		t.Fatalf("another account: %v sessions %d\n%s", o.Fields, e.Sessions(), o.Page)
	}
	if up := lastAuthorize(t, e.OIDC); up.Get("prompt") != "select_account" {
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
