package oauth_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers/providertest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// recheckWorld is alice's two delegations to bob on the Notes API — "write"
// (notes.write, which needs her staff role) and "both" (notes.read, which
// needs no role, and notes.write) — with bob's delegated tokens under each,
// and bob's own delegation of notes.read to alice, which is not alice's to
// lose.
type recheckWorld struct {
	*actForEnv
	write, both, bobs store.Delegation
	tWrite, tBoth     map[string]any
}

const recheckScope = "openid notes.read notes.write offline_access"

func newRecheckWorld(t *testing.T) *recheckWorld {
	t.Helper()
	e := newActForEnv(t, brokertest.Options{})
	w := &recheckWorld{actForEnv: e}
	w.write = e.give(t, e.alice, e.bob, "notes.write")
	w.both = e.give(t, e.alice, e.bob, "notes.read", "notes.write")
	var err error
	w.bobs, err = e.del.Give(t.Context(), e.bob, delegate.Request{GranteeUserID: e.alice, Audience: brokertest.NotesAPI,
		Scopes: []string{"notes.read"}, ExpiresAt: e.Clk.Now().Add(24 * time.Hour)})
	brokertest.Must(t, err)
	w.tWrite = e.actForTokens(t, brokertest.NewAuthzReq("web", brokertest.AppCB, recheckScope), w.write)
	w.tBoth = e.actForTokens(t, brokertest.NewAuthzReq("web", brokertest.AppCB, recheckScope), w.both)
	for _, tok := range []map[string]any{w.tWrite, w.tBoth} {
		if in := e.introspect(t, tok["access_token"]); in["active"] != true {
			t.Fatalf("not active before: %v", in)
		}
	}
	return w
}

// wantActedAtOnce asserts, with no use of any token in between, that "write"
// ended (entitlement_lost) and "both" was narrowed (still active, notes.write
// withheld, delegation.narrowed recorded), that every token under either is
// inactive at introspection, that bob's own delegation is untouched, and that
// a new authorization under "both" gets notes.read only.
func (w *recheckWorld) wantActedAtOnce(t *testing.T) {
	t.Helper()
	e := w.actForEnv
	ctx := t.Context()
	for _, tok := range []map[string]any{w.tWrite, w.tBoth} {
		for _, k := range []string{"access_token", "refresh_token"} {
			if in := e.introspect(t, tok[k]); in["active"] != false {
				t.Errorf("%s still active: %v", k, in)
			}
		}
	}
	if d, err := e.DB.Delegations().Get(ctx, w.write.ID); err != nil || d.EndReason != store.DelegationEndEntitlementLost {
		t.Errorf("the delegation of notes.write only: %+v %v", d, err)
	}
	d, err := e.DB.Delegations().Get(ctx, w.both.ID)
	if err != nil || !d.RevokedAt.IsZero() || !slices.Equal(d.Withheld, []string{"notes.write"}) {
		t.Errorf("the delegation of both: %+v %v", d, err)
	}
	if d, err := e.DB.Delegations().Get(ctx, w.bobs.ID); err != nil || !d.RevokedAt.IsZero() || len(d.Withheld) != 0 {
		t.Errorf("bob's own delegation was touched: %+v %v", d, err)
	}
	brokertest.Must(t, e.Audits[0].Flush(ctx))
	evs, err := e.DB.Audit().List(ctx, store.AuditFilter{Action: "delegation.narrowed"})
	brokertest.Must(t, err)
	if len(evs) != 1 || evs[0].Target != w.both.ID || evs[0].Actor != "gatehouse" {
		t.Fatalf("delegation.narrowed events %+v", evs)
	}
	var det struct{ Withheld []string }
	brokertest.Must(t, json.Unmarshal(evs[0].Details, &det))
	if !slices.Equal(det.Withheld, []string{"notes.write"}) {
		t.Errorf("narrowed details %s", evs[0].Details)
	}
	if evs, _ := e.DB.Audit().List(ctx, store.AuditFilter{Action: "delegation.ended", Target: w.write.ID}); len(evs) != 1 {
		t.Errorf("delegation.ended events %+v", evs)
	}

	// The app authorizes again (a second later: the revocation covers every
	// token issued up to the narrowing) and gets what alice still holds.
	e.Clk.Add(time.Second)
	tok := e.actForTokens(t, brokertest.NewAuthzReq("web", brokertest.AppCB, recheckScope), d)
	c := jwtClaims(t, tok["access_token"])
	scopes := strings.Fields(c["scope"].(string))
	if !slices.Contains(scopes, "notes.read") || slices.Contains(scopes, "notes.write") || c["sub"] != e.alice {
		t.Errorf("after narrowing: %v", c)
	}
	if in := e.introspect(t, tok["access_token"]); in["active"] != true {
		t.Errorf("the narrower token is inactive: %v", in)
	}
}

// TestASDEL04_RoleRuleChangeActsAtOnce: an admin's change of the provider's
// role rule (staff no longer comes from alice's groups) acts on alice's
// delegations at once, in the change's transaction, with no use of them:
// what she no longer holds at all ends, what she holds in part is narrowed,
// and the tokens under both turn inactive at introspection.
func TestASDEL04_RoleRuleChangeActsAtOnce(t *testing.T) {
	t.Parallel()
	w := newRecheckWorld(t)
	e := w.actForEnv
	ops := &operations.Service{Store: e.DB, Upstream: e.Srv().Upstreams().Env(), Audit: e.Audits[0],
		AccessTokenTTL: e.Cfg.AccessTokenTTL, Now: e.Clk.Now, Delegations: e.del}
	_, err := ops.UpsertProvider(t.Context(), operations.Actor{Name: "test"}, upstream.Spec{ID: "corp", Kind: upstream.KindOIDC,
		Name: "OIDC corp", Domains: []string{"oidc.example"}, ClientSecret: "s3cret-corp",
		OIDC: &upstream.OIDCSettings{Issuer: e.OIDC.URL(), ClientID: "gatehouse",
			Common: upstream.Common{RoleRules: []upstream.RoleRule{{Claim: "groups", Value: "staff", Role: "nurse"}}}}})
	brokertest.Must(t, err)
	w.wantActedAtOnce(t)
}

// TestASDEL04_SigninWithChangedClaimsActsAtOnce: alice signs in again and her
// provider no longer puts her in the staff group: the sign-in succeeds, and
// her delegations are ended or narrowed at once, as for a role rule change.
func TestASDEL04_SigninWithChangedClaimsActsAtOnce(t *testing.T) {
	t.Parallel()
	w := newRecheckWorld(t)
	e := w.actForEnv
	e.OIDC.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"groups": []any{"visitors"}} })
	if res, page := e.SignIn(brokertest.NewClient(e.SigninEnv), "alice@oidc.example"); res.StatusCode != 200 ||
		!strings.Contains(page, `data-testid="account"`) {
		t.Fatalf("alice's sign-in: %d %s", res.StatusCode, page)
	}
	w.wantActedAtOnce(t)
}

// TestASDEL04_ProviderChangeNeedsTheRecheck: a provider change that would
// leave delegations unchecked (operations without Delegations) is refused and
// changes nothing.
func TestASDEL04_ProviderChangeNeedsTheRecheck(t *testing.T) {
	t.Parallel()
	w := newRecheckWorld(t)
	e := w.actForEnv
	before, err := e.DB.Providers().Get(t.Context(), "corp")
	brokertest.Must(t, err)
	_, err = e.ops().UpsertProvider(t.Context(), operations.Actor{Name: "test"}, upstream.Spec{ID: "corp", Kind: upstream.KindOIDC,
		Name: "OIDC corp", Domains: []string{"oidc.example"}, ClientSecret: "s3cret-corp",
		OIDC: &upstream.OIDCSettings{Issuer: e.OIDC.URL(), ClientID: "gatehouse",
			Common: upstream.Common{RoleRules: []upstream.RoleRule{{Claim: "groups", Value: "staff", Role: "nurse"}}}}})
	if err == nil {
		t.Fatal("the change was made without re-checking the delegations")
	}
	if after, _ := e.DB.Providers().Get(t.Context(), "corp"); after.Version != before.Version {
		t.Errorf("provider changed: version %d → %d", before.Version, after.Version)
	}
	if in := e.introspect(t, w.tWrite["access_token"]); in["active"] != true {
		t.Errorf("a token was revoked by a refused change: %v", in)
	}
}

// TestASDEL04_ProviderDisabledActsAtOnce: disabling the provider alice's roles
// come from takes them (upstream.UserRoles skips a disabled provider), so her
// delegations are ended or narrowed in the same transaction; bob's delegated
// tokens came through his own provider's session, which the cut-off leaves.
func TestASDEL04_ProviderDisabledActsAtOnce(t *testing.T) {
	t.Parallel()
	w := newRecheckWorld(t)
	e := w.actForEnv
	ops := &operations.Service{Store: e.DB, Upstream: e.Srv().Upstreams().Env(), Audit: e.Audits[0],
		AccessTokenTTL: e.Cfg.AccessTokenTTL, Now: e.Clk.Now, Delegations: e.del}
	_, err := ops.DisableProvider(t.Context(), operations.Actor{Name: "test"}, operations.ProviderRef{ID: "corp"})
	brokertest.Must(t, err)
	w.wantActedAtOnce(t)
}
