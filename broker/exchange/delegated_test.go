package exchange_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// The delegation fixture adds to the exchange fixture: RS1 lets read and write
// be delegated (and passed on), RS2 read; bob, a colleague of alice's (alice
// holds read and write of RS1: they need no role). Delegations are stored
// directly (delegate.Give's own rules are broker/delegate's tests).

// noDelegation is the one description of every requested_subject no usable
// delegation covers.
const noDelegation = "no delegation lets the subject act for requested_subject at this API"

func newDelegationFixture(t *testing.T) *fixture {
	t.Helper()
	fx := newFixture(t)
	ctx := context.Background()
	for id, scopes := range map[string][]string{"rs1": {"read", "write"}, "rs2": {"read"}} {
		api, err := fx.DB.APIs().Get(ctx, id)
		brokertest.Must(t, err)
		api.Delegation = store.DelegationPolicy{Allowed: true, MaxDuration: 7 * 24 * time.Hour, Scopes: scopes, Redelegation: true}
		brokertest.Must(t, fx.DB.APIs().Update(ctx, api))
	}
	now := fx.Clk.Now()
	brokertest.Must(t, fx.DB.Users().Create(ctx, store.User{ID: "bob", Email: "bob@oidc.example", EmailVerified: true,
		CreatedAt: now, UpdatedAt: now}))
	return fx
}

// give stores a delegation from alice to bob at RS1 for read and write for a
// day, changed by change.
func (fx *fixture) give(change func(d *store.Delegation)) store.Delegation {
	fx.t.Helper()
	now := fx.Clk.Now()
	d := store.Delegation{ID: token.NewID(), GrantorID: "alice", GranteeUserID: "bob", Audience: rs1, Scopes: []string{"read", "write"},
		CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if change != nil {
		change(&d)
	}
	brokertest.Must(fx.t, fx.DB.Delegations().Create(context.Background(), d))
	return d
}

// delegates is the delegation service over the fixture's database.
func (fx *fixture) delegates() *delegate.Service {
	return &delegate.Service{Store: fx.DB, Audit: fx.Audits[0], Now: fx.Clk.Now, AccessTokenTTL: fx.Cfg.AccessTokenTTL}
}

// personToken is user's access token from web1 for RS1 (read and write:
// their own, which never counts for whom they act), which svc1 (RS1's
// resource server) received.
func (fx *fixture) personToken(user string) string {
	return fx.mint(token.AccessGrant{ClientID: "web1", Subject: user, Audience: rs1, Scopes: []string{"read", "write"}, GrantID: "grant-" + user,
		SessionID: "sess-" + user, AuthTime: fx.Clk.Now()}, 10*time.Minute)
}

// actFor asks, as svc1 with bob's token, to act for who at RS1.
func (fx *fixture) actFor(who string, extra ...string) result {
	fx.t.Helper()
	return fx.exchange("svc1", fx.personToken("bob"), typeAT, append([]string{"requested_subject", who, "audience", rs1}, extra...)...)
}

// TestExchangeRequestedSubjectUserDelegate: svc1, holding bob's token, acts for
// alice (by ID or email) under her delegation to bob: sub alice, act bob, the
// delegation's ID, its scope, never past the delegation; introspection shows
// the act, and revoking the delegation makes the token inactive at once.
func TestExchangeRequestedSubjectUserDelegate(t *testing.T) {
	fx := newDelegationFixture(t)
	d := fx.give(func(d *store.Delegation) { d.ExpiresAt = fx.Clk.Now().Add(2 * time.Minute) })

	r := fx.actFor("alice", "scope", "read")
	at, cl := fx.ok(r)
	if cl.Subject != "alice" || cl.Act == nil || cl.Act.Subject != "bob" || cl.Act.Act != nil || cl.DelegationID != d.ID ||
		cl.Scope != "read" || cl.ClientID != "svc1" || len(cl.Audience) != 1 || cl.Audience[0] != rs1 {
		t.Fatalf("claims %+v act %+v", cl, cl.Act)
	}
	// A's sessions are not B's; the grant is the exchange's own.
	if cl.SessionID != "" || cl.GrantID == "" || cl.GrantID == "grant-bob" || cl.AuthTime != 0 {
		t.Fatalf("sid %q gid %q auth_time %d", cl.SessionID, cl.GrantID, cl.AuthTime)
	}
	// The delegation ends in 2 minutes, before the subject token and the TTL.
	if got := cl.Expiry - fx.Clk.Now().Unix(); got != 120 || r.Body["expires_in"] != float64(120) {
		t.Fatalf("lifetime %ds, expires_in %v", got, r.Body["expires_in"])
	}
	info := fx.introspect("svc1", at)
	act, _ := info["act"].(map[string]any)
	if info["active"] != true || info["sub"] != "alice" || act["sub"] != "bob" {
		t.Fatalf("introspection %v", info)
	}

	// By email; without scope, all the delegation covers of what svc1 may ask.
	_, cl = fx.ok(fx.actFor("Alice@OIDC.example"))
	if cl.Subject != "alice" || cl.Scope != "read write" || cl.DelegationID != d.ID {
		t.Fatalf("by email: %+v", cl)
	}
	// With svc1's own token as actor: act {svc1, act {bob}}.
	_, cl = fx.ok(fx.actFor("alice", "scope", "write", "actor_token", fx.clientToken("svc1"), "actor_token_type", typeAT))
	if cl.Act == nil || cl.Act.Subject != "svc1" || cl.Act.Act == nil || cl.Act.Act.Subject != "bob" || cl.Act.Act.Act != nil {
		t.Fatalf("act %+v", cl.Act)
	}

	// Audit: token.exchanged names the delegation; each use is delegation.used.
	found := 0
	for _, ev := range fx.Audited("token.exchanged") {
		if ev.Target == "alice" && containsAll(string(ev.Details), `"delegation_id":"`+d.ID+`"`) {
			found++
		}
	}
	if found != 3 {
		t.Fatalf("token.exchanged events naming the delegation: %d", found)
	}
	if uses := fx.Audited("delegation.used"); len(uses) != 3 || uses[0].Target != d.ID || uses[0].Actor != "bob" {
		t.Fatalf("delegation.used: %+v", uses)
	}

	brokertest.Must(t, fx.delegates().Revoke(context.Background(), "alice", d.ID))
	if fx.active("svc1", at) {
		t.Fatal("a token under a revoked delegation is active")
	}
	n := fx.exchanged()
	fx.refused(fx.actFor("alice"), http.StatusBadRequest, "invalid_grant", n)
}

// TestExchangeRequestedSubjectAppDelegate: alice delegated to the app svc1,
// which presents its own client_credentials token: act {sub: svc1}.
func TestExchangeRequestedSubjectAppDelegate(t *testing.T) {
	fx := newDelegationFixture(t)
	d := fx.give(func(d *store.Delegation) { d.GranteeUserID, d.GranteeClientID, d.Scopes = "", "svc1", []string{"read"} })
	at, cl := fx.ok(fx.exchange("svc1", fx.clientToken("svc1"), typeAT, "requested_subject", "alice", "audience", rs1))
	if cl.Subject != "alice" || cl.Act == nil || cl.Act.Subject != "svc1" || cl.Act.Act != nil || cl.DelegationID != d.ID ||
		cl.Scope != "read" || cl.ClientID != "svc1" {
		t.Fatalf("claims %+v act %+v", cl, cl.Act)
	}
	if !fx.active("svc1", at) {
		t.Fatal("inactive")
	}
	// Another app's own token proves nothing about svc1.
	n := fx.exchanged()
	fx.refused(fx.exchange("svc1", fx.clientToken("svc2"), typeAT, "requested_subject", "alice", "audience", rs1),
		http.StatusBadRequest, "invalid_grant", n)
	// The app's delegation is not bob's: bob's token gets the no-delegation answer.
	r := fx.actFor("alice")
	fx.refused(r, http.StatusBadRequest, "invalid_grant", n)
	if r.Str("error_description") != noDelegation {
		t.Fatalf("description %q", r.Str("error_description"))
	}
}

// TestExchangeRequestedSubjectRedelegated: alice gave bob access he may pass
// on, bob passed read on to carol: carol acts for alice (whose access it is),
// with bob as the prior actor; naming bob finds nothing.
func TestExchangeRequestedSubjectRedelegated(t *testing.T) {
	fx := newDelegationFixture(t)
	parent := fx.give(func(d *store.Delegation) { d.MayRedelegate = true })
	d := fx.give(func(d *store.Delegation) {
		d.GrantorID, d.GranteeUserID, d.ParentID, d.Scopes = "bob", "carol", parent.ID, []string{"read"}
		d.ExpiresAt = fx.Clk.Now().Add(time.Hour)
	})
	carol := fx.personToken("carol")
	at, cl := fx.ok(fx.exchange("svc1", carol, typeAT, "requested_subject", "alice", "audience", rs1))
	if cl.Subject != "alice" || cl.DelegationID != d.ID || cl.Scope != "read" || cl.Act == nil || cl.Act.Subject != "carol" ||
		cl.Act.Act == nil || cl.Act.Act.Subject != "bob" || cl.Act.Act.Act != nil {
		t.Fatalf("claims %+v act %+v", cl, cl.Act)
	}
	n := fx.exchanged()
	fx.refused(fx.exchange("svc1", carol, typeAT, "requested_subject", "bob", "audience", rs1), http.StatusBadRequest, "invalid_grant", n)
	// Revoking alice's delegation to bob ends what bob passed on.
	brokertest.Must(t, fx.delegates().Revoke(context.Background(), "alice", parent.ID))
	if fx.active("svc1", at) {
		t.Fatal("a token under a re-delegation of a revoked delegation is active")
	}
	fx.refused(fx.exchange("svc1", carol, typeAT, "requested_subject", "alice", "audience", rs1), http.StatusBadRequest, "invalid_grant", n)
}

// TestExchangeRequestedSubjectPicksDelegation: of two usable delegations from
// alice to bob, the one that covers the requested scope, then the latest.
func TestExchangeRequestedSubjectPicksDelegation(t *testing.T) {
	fx := newDelegationFixture(t)
	both := fx.give(nil)
	fx.Clk.Add(time.Minute)
	readOnly := fx.give(func(d *store.Delegation) { d.Scopes = []string{"read"} })
	for _, tc := range []struct{ scope, want string }{{"write", both.ID}, {"read write", both.ID}, {"read", readOnly.ID}, {"", readOnly.ID}} {
		var extra []string
		if tc.scope != "" {
			extra = []string{"scope", tc.scope}
		}
		if _, cl := fx.ok(fx.actFor("alice", extra...)); cl.DelegationID != tc.want {
			t.Fatalf("scope %q: delegation %s, want %s", tc.scope, cl.DelegationID, tc.want)
		}
	}
}

// TestExchangeRequestedSubjectRefused: whatever keeps bob from acting for the
// person named, the answer is the same invalid_grant, and nothing is issued or
// recorded as a use: no account, no delegation, an expired, revoked, declined
// one, one for another API, a disabled grantor or delegate.
func TestExchangeRequestedSubjectRefused(t *testing.T) {
	ctx := context.Background()
	disable := func(fx *fixture, id string) {
		u, err := fx.DB.Users().Get(ctx, id)
		brokertest.Must(t, err)
		u.Disabled = true // as a disable racing the exchange leaves it, before its cut-off
		brokertest.Must(t, fx.DB.Users().Update(ctx, u))
	}
	for _, tc := range []struct {
		name, who string
		setup     func(fx *fixture)
	}{
		{"no delegation", "alice", func(fx *fixture) { fx.give(func(d *store.Delegation) { d.GrantorID = "carol" }) }},
		{"expired", "alice", func(fx *fixture) {
			fx.give(func(d *store.Delegation) { d.ExpiresAt = fx.Clk.Now() })
		}},
		{"revoked", "alice", func(fx *fixture) {
			brokertest.Must(t, fx.delegates().Revoke(ctx, "alice", fx.give(nil).ID))
		}},
		{"declined", "alice", func(fx *fixture) {
			brokertest.Must(t, fx.delegates().Decline(ctx, "bob", fx.give(nil).ID))
		}},
		{"another API", "alice", func(fx *fixture) {
			fx.give(func(d *store.Delegation) { d.Audience, d.Scopes = rs2, []string{"read"} })
		}},
		{"unknown user", "nobody", func(fx *fixture) { fx.give(nil) }},
		{"unknown email", "nobody@oidc.example", func(fx *fixture) { fx.give(nil) }},
		{"grantor disabled", "alice", func(fx *fixture) { fx.give(nil); disable(fx, "alice") }},
		{"delegate disabled", "alice", func(fx *fixture) { fx.give(nil); disable(fx, "bob") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newDelegationFixture(t)
			tc.setup(fx)
			r := fx.actFor(tc.who, "scope", "read")
			fx.refused(r, http.StatusBadRequest, "invalid_grant", 0)
			if r.Str("error_description") != noDelegation {
				t.Fatalf("description %q, want the one no-delegation answer", r.Str("error_description"))
			}
			if n := len(fx.Audited("delegation.used")); n != 0 {
				t.Fatalf("%d delegation.used events", n)
			}
		})
	}
}

// TestASDEL04_ExchangeWiderScope: bob was given read; asking for more, or for
// a scope alice never had, is invalid_scope and nothing is issued.
func TestASDEL04_ExchangeWiderScope(t *testing.T) {
	fx := newDelegationFixture(t)
	fx.give(func(d *store.Delegation) { d.Scopes = []string{"read"} })
	for _, scope := range []string{"read write", "write", "payroll", "admin", "read openid"} {
		t.Run(scope, func(t *testing.T) {
			fx.t = t
			fx.refused(fx.actFor("alice", "scope", scope), http.StatusBadRequest, "invalid_scope", 0)
		})
	}
	fx.t = t
	if n := len(fx.Audited("delegation.used")); n != 0 {
		t.Fatalf("%d delegation.used events", n)
	}
}

// TestASDEL04_ExchangeDelegatedTokenStaysDelegated: a token acting for alice is
// no proof of who its holder is (no chain of requested_subject), and exchanged
// on its own it keeps its delegation: never another API, never wider, and
// revoking the delegation ends the new token too.
func TestASDEL04_ExchangeDelegatedTokenStaysDelegated(t *testing.T) {
	fx := newDelegationFixture(t)
	d := fx.give(nil)
	fx.give(func(d *store.Delegation) { d.GrantorID, d.GranteeUserID, d.Scopes = "bob", "alice", []string{"read"} })
	delegated, _ := fx.ok(fx.actFor("alice", "scope", "read"))
	n := fx.exchanged()
	// alice's token (sub alice) held by svc1 cannot be used to act for bob.
	fx.refused(fx.exchange("svc1", delegated, typeAT, "requested_subject", "bob", "audience", rs1), http.StatusBadRequest, "invalid_grant", n)
	// Not moved to RS2, where alice holds read of her own.
	fx.refused(fx.exchange("svc1", delegated, typeAT, "audience", rs2), http.StatusBadRequest, "invalid_grant", n)
	// Not widened at RS1: the token had read only.
	fx.refused(fx.exchange("svc1", delegated, typeAT, "audience", rs1, "scope", "write"), http.StatusBadRequest, "invalid_scope", n)
	// Down-scoped at RS1 with svc1 acting: the delegation and bob stay.
	at, cl := fx.ok(fx.exchange("svc1", delegated, typeAT, "audience", rs1, "actor_token", fx.clientToken("svc1"), "actor_token_type", typeAT))
	if cl.Subject != "alice" || cl.DelegationID != d.ID || cl.Scope != "read" || cl.Act == nil || cl.Act.Subject != "svc1" ||
		cl.Act.Act == nil || cl.Act.Act.Subject != "bob" {
		t.Fatalf("claims %+v act %+v", cl, cl.Act)
	}
	brokertest.Must(t, fx.delegates().Revoke(context.Background(), "alice", d.ID))
	if fx.active("svc1", at) {
		t.Fatal("a token exchanged from a delegated one outlives the delegation")
	}
}

// TestExchangeRequestedSubjectRequest: requested_subject needs a Gatehouse
// access token as the subject (the delegate's proof), and a client allowed to
// exchange access tokens; and bob's token must be one the client received
// (AS-DEL-08: svc2 serves RS2, not RS1).
func TestExchangeRequestedSubjectRequest(t *testing.T) {
	fx := newDelegationFixture(t)
	fx.give(nil)
	fx.refused(fx.exchange("svc2", fx.personToken("bob"), typeAT, "requested_subject", "alice", "audience", rs1),
		http.StatusBadRequest, "invalid_grant", 0)
	fx.refused(fx.exchange("cli", fx.idToken(nil), typeID, "requested_subject", "alice"), http.StatusBadRequest, "invalid_request", 0)
	fx.refused(fx.exchange("cli", fx.personToken("bob"), typeAT, "requested_subject", "alice"), http.StatusBadRequest, "unauthorized_client", 0)
}
