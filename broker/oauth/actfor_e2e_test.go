package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/pgtest"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/upstream"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// actForEnv is AuthzEnv with the Notes API open to delegation, alice (role
// staff: notes.read and notes.write) and bob (no role: notes.read only), both
// signed in once, and the delegation rules over the same database.
type actForEnv struct {
	*brokertest.AuthzEnv
	del        *delegate.Service
	alice, bob string
	bobC       *http.Client
}

func newActForEnv(t *testing.T, o brokertest.Options) *actForEnv {
	t.Helper()
	e := brokertest.NewAuthzEnvWith(t, o)
	ctx := t.Context()
	api, err := e.DB.APIs().GetByAudience(ctx, brokertest.NotesAPI)
	brokertest.Must(t, err)
	api.Delegation = store.DelegationPolicy{Allowed: true, MaxDuration: 30 * 24 * time.Hour, Scopes: []string{"notes.read", "notes.write"}}
	brokertest.Must(t, e.DB.APIs().Update(ctx, api))
	e.AddOIDC("bobco", "bob.example", false, map[string]any{"sub": "bob-sub", "email": "bob@bob.example", "email_verified": true,
		"name": "Bob", "groups": []any{}})
	e.SignedIn()
	bobC := brokertest.NewClient(e.SigninEnv)
	if res, page := e.SignIn(bobC, "bob@bob.example"); res.StatusCode != 200 || !strings.Contains(page, `data-testid="account"`) {
		t.Fatalf("bob's sign-in: %d %s", res.StatusCode, page)
	}
	bob, err := e.DB.Identities().Get(ctx, "bobco", "bob-sub")
	brokertest.Must(t, err)
	return &actForEnv{AuthzEnv: e, alice: aliceID(t, e), bob: bob.UserID, bobC: bobC,
		del: &delegate.Service{Store: e.DB, Audit: e.Audits[0], Now: e.Clk.Now, AccessTokenTTL: e.Cfg.AccessTokenTTL}}
}

// give is a delegation from grantor to grantee on the Notes API for a week.
func (e *actForEnv) give(t *testing.T, grantor, grantee string, scopes ...string) store.Delegation {
	t.Helper()
	d, err := e.del.Give(t.Context(), grantor, delegate.Request{GranteeUserID: grantee, Audience: brokertest.NotesAPI,
		Scopes: scopes, ExpiresAt: e.Clk.Now().Add(7 * 24 * time.Hour)})
	brokertest.Must(t, err)
	return d
}

// consentPage starts q in bob's browser and returns the consent page it shows.
func (e *actForEnv) consentPage(t *testing.T, q brokertest.AuthzReq) string {
	t.Helper()
	o := e.Start(e.bobC, q)
	if !strings.Contains(o.Page, `data-testid="consent"`) {
		t.Fatalf("no consent page: %d %v\n%s", o.Status, o.Fields, o.Page)
	}
	return o.Page
}

// choose approves the consent page as bob, acting for actFor ("" for himself),
// with extra fields added to the form.
func (e *actForEnv) choose(t *testing.T, page, actFor string, extra url.Values) brokertest.Outcome {
	t.Helper()
	f := brokertest.FormFields(t, page, "/oauth2/consent")
	f.Set("decision", "approve")
	f.Set("act_for", actFor)
	for k, v := range extra {
		f[k] = v
	}
	return e.Drive(e.bobC, e.PostForm(e.bobC, "/oauth2/consent", f))
}

// actForTokens runs bob's authorization of web for q acting under d, and
// redeems the code.
func (e *actForEnv) actForTokens(t *testing.T, q brokertest.AuthzReq, d store.Delegation) map[string]any {
	t.Helper()
	o := e.choose(t, e.consentPage(t, q), d.ID, nil)
	if o.App == nil || o.Fields.Get("code") == "" {
		t.Fatalf("no code: %d %v\n%s", o.Status, o.Fields, o.Page)
	}
	st, tok := e.Redeem("web", o.Fields.Get("code"), q.Verifier, brokertest.AppCB)
	if st != 200 {
		t.Fatalf("redeem: %d %v", st, tok)
	}
	return tok
}

// introspect asks about tok as web.
func (e *actForEnv) introspect(t *testing.T, tok any) map[string]any {
	t.Helper()
	s, _ := tok.(string)
	st, out := e.TokenRequestAt("/oauth2/introspect", "web", url.Values{"token": {s}})
	if st != 200 {
		t.Fatalf("introspection: %d %v", st, out)
	}
	return out
}

// TokenRequestAt posts v to path as client (basic auth).
func (e *actForEnv) TokenRequestAt(path, client string, v url.Values) (int, map[string]any) {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.TS.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, e.Secrets[client])
	res, err := e.TS.Client().Do(req)
	brokertest.Must(e.T, err)
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// issued counts what authorization and redemption store: codes, consents and
// refresh tokens.
func (e *actForEnv) issued() [3]int {
	return [3]int{e.Count("auth_codes"), e.Count("consents"), e.Count("refresh_tokens")}
}

func actOf(c map[string]any) string {
	act, _ := c["act"].(map[string]any)
	s, _ := act["sub"].(string)
	return s
}

// TestActForConsentChoice: bob, holding a delegation from alice for the Notes
// API, is offered "myself" or "for Alice" on web's consent page. Acting for
// alice, web gets an access token with sub = alice, act.sub = bob,
// delegation_id and a scope within the delegation (notes.write, which bob does
// not hold himself, but not admin); the ID token stays about bob (OIDC Core §2);
// introspection and UserInfo show the acting party; token.issued names the
// delegation and delegation.used records the use. Choosing himself, bob gets
// his own token.
func TestActForConsentChoice(t *testing.T) {
	t.Parallel()
	e := newActForEnv(t, brokertest.Options{})
	d := e.give(t, e.alice, e.bob, "notes.read", "notes.write")

	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid profile email notes.read notes.write admin offline_access")
	page := e.consentPage(t, q)
	for _, want := range []string{`data-testid="consent-actfor"`, "<legend>", `data-testid="consent-actfor-self"`,
		`data-testid="consent-actfor-` + d.ID + `"`, "Act for <strong>Alice</strong>", "Read your notes; Change your notes",
		`data-testid="consent-actfor-note"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("consent page lacks %q:\n%s", want, page)
		}
	}
	o := e.choose(t, page, d.ID, nil)
	st, tok := e.Redeem("web", o.Fields.Get("code"), q.Verifier, brokertest.AppCB)
	if st != 200 {
		t.Fatalf("redeem: %d %v", st, tok)
	}
	at := jwtClaims(t, tok["access_token"])
	if at["sub"] != e.alice || actOf(at) != e.bob || at["delegation_id"] != d.ID || at["client_id"] != "web" {
		t.Fatalf("access token claims %v", at)
	}
	if got := token.ParseScope(at["scope"].(string)); !slices.Equal(got, []string{"openid", "notes.read", "notes.write"}) {
		t.Errorf("scope %v: want the delegation's scopes with openid only", got)
	}
	if tok["scope"] != at["scope"] {
		t.Errorf("response scope %v, token scope %v", tok["scope"], at["scope"])
	}
	if id := jwtClaims(t, tok["id_token"]); id["sub"] != e.bob || id["act"] != nil {
		t.Errorf("ID token about %v (act %v): want bob, who signed in", id["sub"], id["act"])
	}
	in := e.introspect(t, tok["access_token"])
	if in["active"] != true || in["sub"] != e.alice || actOf(in) != e.bob || in["delegation_id"] != d.ID {
		t.Errorf("introspection %v", in)
	}
	rin := e.introspect(t, tok["refresh_token"])
	if rin["active"] != true || rin["sub"] != e.alice || actOf(rin) != e.bob || rin["delegation_id"] != d.ID {
		t.Errorf("refresh token introspection %v", rin)
	}
	req, _ := http.NewRequest(http.MethodGet, e.TS.URL+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	ures, err := e.TS.Client().Do(req)
	brokertest.Must(t, err)
	var ui map[string]any
	json.NewDecoder(ures.Body).Decode(&ui)
	ures.Body.Close()
	if ures.StatusCode != 200 || ui["sub"] != e.alice || actOf(ui) != e.bob || ui["email"] != nil {
		t.Errorf("userinfo %v: want alice's sub with act, and not her email", ui)
	}

	// The refresh keeps acting for alice.
	st, ref := e.Refresh("web", tok["refresh_token"].(string))
	if rc := jwtClaims(t, ref["access_token"]); st != 200 || rc["sub"] != e.alice || actOf(rc) != e.bob || rc["delegation_id"] != d.ID {
		t.Fatalf("refresh: %d %v", st, ref)
	}

	brokertest.Must(t, e.Audits[0].Flush(t.Context()))
	evs, err := e.DB.Audit().List(t.Context(), store.AuditFilter{Action: "token.issued"})
	brokertest.Must(t, err)
	named := 0
	for _, ev := range evs {
		var det map[string]any
		json.Unmarshal(ev.Details, &det)
		if det["delegation"] == d.ID {
			named++
		}
	}
	if named != 2 {
		t.Errorf("%d token.issued events name the delegation, want 2 (code and refresh)", named)
	}
	if used, _ := e.DB.Audit().List(t.Context(), store.AuditFilter{Action: "delegation.used"}); len(used) != 2 {
		t.Errorf("%d delegation.used events, want 2", len(used))
	}

	// Choosing himself, bob gets his own token: no act, no notes.write.
	q2 := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read notes.write")
	o = e.choose(t, e.consentPage(t, q2), "", nil)
	st, own := e.Redeem("web", o.Fields.Get("code"), q2.Verifier, brokertest.AppCB)
	if c := jwtClaims(t, own["access_token"]); st != 200 || c["sub"] != e.bob || c["act"] != nil || c["delegation_id"] != nil ||
		c["scope"] != "openid notes.read" {
		t.Errorf("bob's own token: %d %v", st, c)
	}
}

// TestASDEL02_ActForTamper: the "act for" choice of an edited consent form —
// another person's delegation, an unknown ID, one revoked or expired after the
// page was shown — is refused with nothing issued; scope added to the form
// does not widen the token (it comes from the pending request and the
// delegation).
func TestASDEL02_ActForTamper(t *testing.T) {
	t.Parallel()
	e := newActForEnv(t, brokertest.Options{})
	d := e.give(t, e.alice, e.bob, "notes.read")
	foreign := e.give(t, e.bob, e.alice, "notes.read") // bob's gift to alice: not bob's to use
	q := func() brokertest.AuthzReq {
		return brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read notes.write")
	}
	for _, tc := range []struct {
		name   string
		choice func(t *testing.T) string // run after the page is shown
		page   bool                      // refused with a page (not offered), else access_denied
	}{
		{"another person's delegation", func(*testing.T) string { return foreign.ID }, true},
		{"unknown delegation", func(*testing.T) string { return "no-such-delegation" }, true},
		{"revoked after the page", func(t *testing.T) string {
			return e.give(t, e.alice, e.bob, "notes.read").ID
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qq := q()
			id := tc.choice(t)
			page := e.consentPage(t, qq)
			if !tc.page {
				brokertest.Must(t, e.del.Revoke(t.Context(), e.alice, id))
			}
			before := e.issued()
			o := e.choose(t, page, id, nil)
			if tc.page {
				if o.App != nil || o.Status != http.StatusForbidden {
					t.Fatalf("want a 403 page, got %d %v", o.Status, o.Fields)
				}
			} else {
				e.WantRedirectError(t, o, qq, "access_denied")
			}
			if after := e.issued(); after != before {
				t.Errorf("issued %v → %v", before, after)
			}
		})
	}
	t.Run("expired after the page", func(t *testing.T) {
		short, err := e.del.Give(t.Context(), e.alice, delegate.Request{GranteeUserID: e.bob, Audience: brokertest.NotesAPI,
			Scopes: []string{"notes.read"}, ExpiresAt: e.Clk.Now().Add(2 * time.Minute)})
		brokertest.Must(t, err)
		qq := q()
		page := e.consentPage(t, qq)
		e.Clk.Add(3 * time.Minute)
		before := e.issued()
		e.WantRedirectError(t, e.choose(t, page, short.ID, nil), qq, "access_denied")
		if after := e.issued(); after != before {
			t.Errorf("issued %v → %v", before, after)
		}
	})
	t.Run("scope widened in the form", func(t *testing.T) {
		qq := q()
		o := e.choose(t, e.consentPage(t, qq), d.ID, url.Values{"scope": {"openid notes.read notes.write admin"}, "client_id": {"web2"}})
		st, tok := e.Redeem("web", o.Fields.Get("code"), qq.Verifier, brokertest.AppCB)
		if c := jwtClaims(t, tok["access_token"]); st != 200 || c["scope"] != "openid notes.read" || c["sub"] != e.alice {
			t.Errorf("widened form: %d %v", st, c)
		}
	})
}

// TestASDEL03_RememberedConsentDoesNotSwitchIdentity: bob's remembered consent
// for web skips the page until he holds a delegation; from then on every
// authorization asks (prompt=none: consent_required), and a choice "for Alice"
// is not remembered: it changes no consent and the next authorization asks again.
func TestASDEL03_RememberedConsentDoesNotSwitchIdentity(t *testing.T) {
	t.Parallel()
	e := newActForEnv(t, brokertest.Options{})
	scope := "openid notes.read"
	if cb := e.Code(e.bobC, brokertest.NewAuthzReq("web", brokertest.AppCB, scope)); cb.Get("code") == "" {
		t.Fatal("no code")
	}
	if o := e.Start(e.bobC, brokertest.NewAuthzReq("web", brokertest.AppCB, scope)); o.App == nil || o.Fields.Get("code") == "" {
		t.Fatalf("remembered consent asked again: %d\n%s", o.Status, o.Page)
	}
	d := e.give(t, e.alice, e.bob, "notes.read")
	consent, err := e.DB.Consents().Get(t.Context(), e.bob, "web")
	brokertest.Must(t, err)

	none := brokertest.NewAuthzReq("web", brokertest.AppCB, scope)
	none.Params.Set("prompt", "none")
	before := e.issued()
	e.WantRedirectError(t, e.Start(e.bobC, none), none, "consent_required")
	if after := e.issued(); after != before {
		t.Errorf("prompt=none issued %v → %v", before, after)
	}
	e.actForTokens(t, brokertest.NewAuthzReq("web", brokertest.AppCB, scope), d)
	after, err := e.DB.Consents().Get(t.Context(), e.bob, "web")
	brokertest.Must(t, err)
	if !slices.Equal(after.Scopes, consent.Scopes) || e.Count("consents") != 1 {
		t.Errorf("acting for alice changed the consents: %v → %v", consent.Scopes, after.Scopes)
	}
	e.consentPage(t, brokertest.NewAuthzReq("web", brokertest.AppCB, scope)) // asks again

	// First-party apps skip consent, but not the choice of identity.
	q := brokertest.NewAuthzReq("first", "https://first.test/cb", scope)
	if o := e.Start(e.bobC, q); !strings.Contains(o.Page, `data-testid="consent-actfor"`) {
		t.Errorf("first-party app skipped the choice: %d %v", o.Status, o.Fields)
	}
}

// TestASDEL04_ActForRefreshRechecks: every refresh re-checks the delegation and
// the grantor's entitlements: after alice loses the staff role (her provider's
// role rule changes), a delegation of notes.read and notes.write narrows to
// notes.read, one of notes.write alone ends (invalid_grant); a revoked or
// expired delegation refreshes nothing, and revoking turns the delegated
// access token inactive at introspection at once.
func TestASDEL04_ActForRefreshRechecks(t *testing.T) {
	t.Parallel()
	e := newActForEnv(t, brokertest.Options{})
	scope := "openid notes.read notes.write offline_access"
	wantRefused := func(t *testing.T, rt any, what string) {
		t.Helper()
		before := e.issued()
		if st, out := e.Refresh("web", rt.(string)); st != 400 || out["error"] != "invalid_grant" {
			t.Errorf("%s: refresh %d %v", what, st, out)
		}
		if after := e.issued(); after[2] != before[2] {
			t.Errorf("%s: a refresh token was issued", what)
		}
	}

	t.Run("revoked", func(t *testing.T) {
		d := e.give(t, e.alice, e.bob, "notes.read")
		tok := e.actForTokens(t, brokertest.NewAuthzReq("web", brokertest.AppCB, scope), d)
		brokertest.Must(t, e.del.Revoke(t.Context(), e.alice, d.ID))
		if in := e.introspect(t, tok["access_token"]); in["active"] != false {
			t.Errorf("access token still active after the revocation: %v", in)
		}
		if in := e.introspect(t, tok["refresh_token"]); in["active"] != false {
			t.Errorf("refresh token still active after the revocation: %v", in)
		}
		wantRefused(t, tok["refresh_token"], "revoked")
	})
	t.Run("grantor loses a role", func(t *testing.T) {
		both := e.give(t, e.alice, e.bob, "notes.read", "notes.write")
		write := e.give(t, e.alice, e.bob, "notes.write")
		tBoth := e.actForTokens(t, brokertest.NewAuthzReq("web", brokertest.AppCB, scope), both)
		tWrite := e.actForTokens(t, brokertest.NewAuthzReq("web", brokertest.AppCB, scope), write)
		// The provider's role rule changes: alice's groups claim no longer makes her staff.
		e.Upsert(upstream.Spec{ID: "corp", Kind: upstream.KindOIDC, Name: "OIDC corp", Domains: []string{"oidc.example"},
			ClientSecret: "s3cret-corp", OIDC: &upstream.OIDCSettings{Issuer: e.OIDC.URL(), ClientID: "gatehouse",
				Common: upstream.Common{RoleRules: []upstream.RoleRule{{Claim: "groups", Value: "staff", Role: "nurse"}}}}})
		st, out := e.Refresh("web", tBoth["refresh_token"].(string))
		if c := jwtClaims(t, out["access_token"]); st != 200 || c["scope"] != "openid notes.read" || c["sub"] != e.alice {
			t.Errorf("narrowed refresh: %d %v", st, out)
		}
		wantRefused(t, tWrite["refresh_token"], "entitlement lost")
		if in := e.introspect(t, tWrite["access_token"]); in["active"] != false {
			t.Errorf("access token under the ended delegation still active: %v", in)
		}
	})
	t.Run("expired", func(t *testing.T) {
		d, err := e.del.Give(t.Context(), e.alice, delegate.Request{GranteeUserID: e.bob, Audience: brokertest.NotesAPI,
			Scopes: []string{"notes.read"}, ExpiresAt: e.Clk.Now().Add(time.Hour)})
		brokertest.Must(t, err)
		tok := e.actForTokens(t, brokertest.NewAuthzReq("web", brokertest.AppCB, scope), d)
		if exp := jwtClaims(t, tok["access_token"])["exp"].(float64); int64(exp) > d.ExpiresAt.Unix() {
			t.Errorf("access token outlives the delegation: exp %v", exp)
		}
		e.Clk.Add(time.Hour + time.Second)
		if in := e.introspect(t, tok["refresh_token"]); in["active"] != false {
			t.Errorf("refresh token active after expiry: %v", in)
		}
		wantRefused(t, tok["refresh_token"], "expired")
	})
}

// TestActForEndsWithEachParty: a delegated token ends, at introspection and at
// refresh, when bob revokes his consent for web, when alice or bob is
// disabled, and when the delegation is revoked.
func TestActForEndsWithEachParty(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, e *actForEnv, d store.Delegation)
	}{
		{"bob revokes his consent", func(t *testing.T, e *actForEnv, d store.Delegation) {
			_, page := e.Follow(e.bobC, e.Get(e.bobC, "/account/apps/revoke?client=web"))
			f := brokertest.FormFields(t, page, "/account/apps/revoke")
			f.Set("client", "web")
			if res := e.PostForm(e.bobC, "/account/apps/revoke", f); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("revoke consent: %d", res.StatusCode)
			}
		}},
		{"alice disabled", func(t *testing.T, e *actForEnv, d store.Delegation) {
			_, err := e.ops().DisableUser(t.Context(), operations.Actor{Name: "test"}, e.alice)
			brokertest.Must(t, err)
		}},
		{"bob disabled", func(t *testing.T, e *actForEnv, d store.Delegation) {
			_, err := e.ops().DisableUser(t.Context(), operations.Actor{Name: "test"}, e.bob)
			brokertest.Must(t, err)
		}},
		{"delegation revoked", func(t *testing.T, e *actForEnv, d store.Delegation) {
			brokertest.Must(t, e.del.Revoke(t.Context(), e.alice, d.ID))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newActForEnv(t, brokertest.Options{})
			scope := "openid notes.read offline_access"
			// bob's own consent for web exists, so that he has one to revoke.
			e.Code(e.bobC, brokertest.NewAuthzReq("web", brokertest.AppCB, scope))
			d := e.give(t, e.alice, e.bob, "notes.read")
			tok := e.actForTokens(t, brokertest.NewAuthzReq("web", brokertest.AppCB, scope), d)
			if in := e.introspect(t, tok["access_token"]); in["active"] != true {
				t.Fatalf("not active before: %v", in)
			}
			tc.end(t, e, d)
			for _, k := range []string{"access_token", "refresh_token"} {
				if in := e.introspect(t, tok[k]); in["active"] != false {
					t.Errorf("%s still active: %v", k, in)
				}
			}
			if st, out := e.Refresh("web", tok["refresh_token"].(string)); st != 400 || out["error"] != "invalid_grant" {
				t.Errorf("refresh: %d %v", st, out)
			}
		})
	}
}

func (e *actForEnv) ops() *operations.Service {
	return &operations.Service{Store: e.DB, Upstream: e.Srv().Upstreams().Env(), Audit: e.Audits[0],
		AccessTokenTTL: e.Cfg.AccessTokenTTL, Now: e.Clk.Now}
}

// TestASDEL04_ActForRevocationAcrossReplicas: two replicas on one PostgreSQL
// database; a delegated token issued on one is active at the other's
// introspection until the delegation is revoked, and inactive there at once
// after; its refresh is refused on either.
func TestASDEL04_ActForRevocationAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := newActForEnv(t, brokertest.Options{DBURL: pgtest.URL(t), Replicas: 2})
	d := e.give(t, e.alice, e.bob, "notes.read")
	e.Active.Store(0)
	tok := e.actForTokens(t, brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read"), d)
	e.Active.Store(1)
	if in := e.introspect(t, tok["access_token"]); in["active"] != true || actOf(in) != e.bob || in["delegation_id"] != d.ID {
		t.Fatalf("replica 1 before the revocation: %v", in)
	}
	e.Active.Store(0)
	brokertest.Must(t, e.del.Revoke(t.Context(), e.alice, d.ID))
	e.Active.Store(1)
	for _, k := range []string{"access_token", "refresh_token"} {
		if in := e.introspect(t, tok[k]); in["active"] != false {
			t.Errorf("replica 1: %s still active after the revocation on replica 0: %v", k, in)
		}
	}
	if st, out := e.Refresh("web", tok["refresh_token"].(string)); st != 400 || out["error"] != "invalid_grant" {
		t.Errorf("replica 1 refresh: %d %v", st, out)
	}
}

// TestASDEL04_ActForRedelegatedIsTheFirstGrantors: dana gives alice access she
// may pass on, alice passes it on to bob. Acting under that, bob's tokens are
// about dana (whose access it is), with act bob and, nested, alice who passed it
// on (RFC 8693 §4.1) — never about alice, whose own notes nobody delegated. The
// consent page says whose access it is and who passed it on; introspection of
// the refresh token says the same.
func TestASDEL04_ActForRedelegatedIsTheFirstGrantors(t *testing.T) {
	t.Parallel()
	e := newActForEnv(t, brokertest.Options{})
	ctx := t.Context()
	api, err := e.DB.APIs().GetByAudience(ctx, brokertest.NotesAPI)
	brokertest.Must(t, err)
	api.Delegation.Redelegation = true
	brokertest.Must(t, e.DB.APIs().Update(ctx, api))
	now := e.Clk.Now()
	brokertest.Must(t, e.DB.Identities().LinkNewUser(ctx, store.User{ID: "dana", Email: "dana@bob.example", Name: "Dana",
		CreatedAt: now, UpdatedAt: now}, store.Identity{ProviderID: "bobco", Subject: "dana-sub", LinkedAt: now}))
	parent, err := e.del.Give(ctx, "dana", delegate.Request{GranteeUserID: e.alice, Audience: brokertest.NotesAPI,
		Scopes: []string{"notes.read"}, ExpiresAt: now.Add(7 * 24 * time.Hour), MayRedelegate: true})
	brokertest.Must(t, err)
	d, err := e.del.Give(ctx, e.alice, delegate.Request{GranteeUserID: e.bob, Audience: brokertest.NotesAPI,
		Scopes: []string{"notes.read"}, ExpiresAt: now.Add(24 * time.Hour), ParentID: parent.ID})
	brokertest.Must(t, err)

	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read offline_access")
	page := e.consentPage(t, q)
	if !strings.Contains(page, "Act for <strong>Dana (passed on by Alice)</strong>") {
		t.Fatalf("the consent page does not say whose access it is:\n%s", page)
	}
	tok := e.actForTokens(t, q, d)
	wantAct := func(what string, c map[string]any) {
		t.Helper()
		act, _ := c["act"].(map[string]any)
		prior, _ := act["act"].(map[string]any)
		if c["sub"] != "dana" || act["sub"] != e.bob || prior["sub"] != e.alice || prior["act"] != nil || c["delegation_id"] != d.ID {
			t.Errorf("%s: sub %v act %v, want dana with act bob, then alice", what, c["sub"], c["act"])
		}
	}
	wantAct("access token", jwtClaims(t, tok["access_token"]))
	wantAct("refresh token introspection", e.introspect(t, tok["refresh_token"]))
}
