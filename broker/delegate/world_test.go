package delegate

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

const (
	careAPI   = "https://care.test"
	closedAPI = "https://closed.test"
)

// world is one test's store: ann, a nurse (role clinician through corp's role
// rule on her groups), and bob, carol and dave (disabled); the Care Plans API,
// whose policy lets plans.read, plans.write and plans.admin be delegated for a
// week and passed on, but not public.read; an API that forbids delegation; the
// app ward (allowed Care Plans) and the app other (not).
type world struct {
	t   *testing.T
	db  *sqlstore.DB
	svc *Service
	now time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	db := testsupport.OpenSQLite(t)
	w := &world{t: t, db: db, now: time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return w.now }
	aw := audit.NewWriter(db.Audit(), slog.New(slog.DiscardHandler), audit.Options{Now: clock})
	t.Cleanup(func() { aw.Close(context.Background()) })
	w.svc = &Service{Store: db, Audit: aw, Now: clock, AccessTokenTTL: 10 * time.Minute}

	w.setRules(upstream.RoleRule{Claim: "groups", Value: "nurses", Role: "clinician"})
	for _, u := range []struct {
		id       string
		disabled bool
		claims   string
	}{
		{"ann", false, `{"sub":"ann","groups":["nurses"]}`},
		{"bob", false, `{"sub":"bob"}`},
		{"carol", false, `{"sub":"carol"}`},
		{"dave", true, `{"sub":"dave"}`},
	} {
		w.must(db.Identities().LinkNewUser(ctx,
			store.User{ID: u.id, Email: u.id + "@corp.example", Disabled: u.disabled, CreatedAt: w.now, UpdatedAt: w.now},
			store.Identity{ProviderID: "corp", Subject: u.id, Claims: []byte(u.claims), LinkedAt: w.now}))
	}
	clinician := []string{"clinician"}
	w.must(db.APIs().Create(ctx, store.API{ID: "care", Audience: careAPI, Name: "Care Plans", CreatedAt: w.now,
		Scopes: []store.Scope{
			{Name: "plans.read", Roles: clinician}, {Name: "plans.write", Roles: clinician},
			{Name: "plans.admin", Roles: []string{"admin"}}, {Name: "public.read"},
		},
		Delegation: store.DelegationPolicy{Allowed: true, MaxDuration: 7 * 24 * time.Hour,
			Scopes: []string{"plans.read", "plans.write", "plans.admin"}, Redelegation: true}}))
	w.must(db.APIs().Create(ctx, store.API{ID: "closed", Audience: closedAPI, Name: "Closed", CreatedAt: w.now,
		Scopes: []store.Scope{{Name: "read"}}}))
	for _, c := range []store.Client{
		{ID: "ward", Name: "Ward App", DefaultAudience: careAPI},
		{ID: "other", Name: "Other App", DefaultAudience: closedAPI},
	} {
		c.CreatedAt, c.UpdatedAt = w.now, w.now
		w.must(db.Clients().Create(ctx, c))
	}
	return w
}

// setRules (re)writes provider corp's role rules, as an admin's edit does.
func (w *world) setRules(rules ...upstream.RoleRule) {
	w.t.Helper()
	b, err := json.Marshal(upstream.OIDCSettings{Issuer: "https://corp.example", ClientID: "gatehouse",
		Common: upstream.Common{RoleRules: rules}})
	w.must(err)
	ctx := w.t.Context()
	p, err := w.db.Providers().Get(ctx, "corp")
	if err != nil {
		w.must(w.db.Providers().Create(ctx, store.ProviderConfig{ID: "corp", Kind: upstream.KindOIDC, Name: "Corp",
			Enabled: true, Settings: b, CreatedAt: w.now, UpdatedAt: w.now}))
		return
	}
	p.Settings = b
	w.must(w.db.Providers().Update(ctx, p))
}

func (w *world) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// ctx is a request's context, with the address and request ID events record.
func (w *world) ctx() context.Context {
	return web.WithInfo(w.t.Context(), web.RequestInfo{ID: "req-12345678", IP: "192.0.2.7"})
}

// events returns the stored audit events of action, newest first.
func (w *world) events(action string) []store.AuditEvent {
	w.t.Helper()
	w.must(w.svc.Audit.Flush(w.t.Context()))
	evs, err := w.db.Audit().List(w.t.Context(), store.AuditFilter{Action: action})
	w.must(err)
	return evs
}

// give stores a delegation directly (not through Give), for tests of what
// happens to one.
func (w *world) give(d store.Delegation) store.Delegation {
	w.t.Helper()
	if d.Audience == "" {
		d.Audience = careAPI
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = w.now
	}
	if d.ExpiresAt.IsZero() {
		d.ExpiresAt = w.now.Add(24 * time.Hour)
	}
	w.must(w.db.Delegations().Create(w.t.Context(), d))
	return d
}

// request is a valid request by ann to bob, changed by change.
func (w *world) request(change func(r *Request)) Request {
	r := Request{GranteeUserID: "bob", Audience: careAPI, Scopes: []string{"plans.read"},
		ExpiresAt: w.now.Add(48 * time.Hour), Note: "Covering my shift"}
	if change != nil {
		change(&r)
	}
	return r
}
