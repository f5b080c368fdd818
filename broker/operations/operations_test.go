package operations

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// admin is the actor of every change in these tests.
var admin = Actor{Name: "alice@example.test", Via: "test"}

// world is a Service on a fresh SQLite database, with a fixed clock; users ann
// (signed in twice at corp) and bob (at uni), each session with a refresh token.
type world struct {
	t   *testing.T
	ops *Service
	db  *sqlstore.DB
	now time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	db := testsupport.OpenSQLite(t)
	ring, err := seal.NewKeyring(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, db: db, now: time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return w.now }
	km, err := keys.NewManager(db.SigningKeys(), ring, keys.Options{Algorithm: keys.ES256, Now: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	aw := audit.NewWriter(db.Audit(), slog.New(slog.DiscardHandler), audit.Options{Now: clock})
	t.Cleanup(func() { aw.Close(context.Background()) })
	w.ops = &Service{Store: db, Upstream: upstream.Env{Keyring: ring, Now: clock}, Keys: km, Audit: aw,
		AccessTokenTTL: 10 * time.Minute, SigningAlgorithm: keys.ES256, Now: clock}

	for _, p := range []string{"corp", "uni"} {
		w.must(db.Providers().Create(ctx, store.ProviderConfig{ID: p, Kind: upstream.KindOIDC, Name: p, Enabled: true,
			Settings: []byte(`{"issuer":"https://` + p + `.example","client_id":"gatehouse"}`), CreatedAt: w.now, UpdatedAt: w.now}))
	}
	for _, u := range []struct{ id, email, provider string }{{"ann", "ann@corp.example", "corp"}, {"bob", "bob@uni.example", "uni"}} {
		w.must(db.Identities().LinkNewUser(ctx, store.User{ID: u.id, Email: u.email, EmailVerified: true, Name: u.id,
			CreatedAt: w.now, UpdatedAt: w.now}, store.Identity{ProviderID: u.provider, Subject: "sub-" + u.id, Email: u.email, LinkedAt: w.now}))
	}
	for _, s := range []struct{ id, user, provider string }{{"s-ann-1", "ann", "corp"}, {"s-ann-2", "ann", "corp"}, {"s-bob", "bob", "uni"}} {
		w.must(db.Sessions().Create(ctx, store.Session{ID: s.id, TokenHash: []byte("h-" + s.id), UserID: s.user, ProviderID: s.provider,
			CreatedAt: w.now, LastSeenAt: w.now, ExpiresAt: w.now.Add(time.Hour)}))
		w.must(db.RefreshTokens().Create(ctx, store.RefreshToken{TokenHash: []byte("rt-" + s.id), FamilyID: "f-" + s.id, GrantID: "g-" + s.id,
			ClientID: "web", UserID: s.user, SessionID: s.id, CreatedAt: w.now.Add(-time.Second), ExpiresAt: w.now.Add(time.Hour)}))
	}
	w.must(db.APIs().Create(ctx, store.API{ID: "notes", Audience: "https://notes.test", Name: "Notes", CreatedAt: w.now,
		Scopes: []store.Scope{{Name: "read", Description: "Read notes"}}}))
	return w
}

func (w *world) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// events returns the audit events of action, newest first.
func (w *world) events(action string) []store.AuditEvent {
	w.t.Helper()
	evs, err := w.db.Audit().List(context.Background(), store.AuditFilter{Action: action})
	w.must(err)
	return evs
}

// audited asserts exactly one event of action on target, by admin, and returns
// its details.
func (w *world) audited(t *testing.T, action, target string) map[string]any {
	t.Helper()
	evs := w.events(action)
	if len(evs) != 1 || evs[0].Target != target || evs[0].Actor != admin.Name {
		t.Fatalf("%s audit events: %+v, want one on %q by %q", action, evs, target, admin.Name)
	}
	var d map[string]any
	if err := json.Unmarshal(evs[0].Details, &d); err != nil {
		t.Fatal(err)
	}
	if d["via"] != admin.Via {
		t.Errorf("%s details %v lack via %q", action, d, admin.Via)
	}
	return d
}

// auditTotal counts every audit event: a refused operation adds none.
func (w *world) auditTotal() int {
	w.t.Helper()
	evs, err := w.db.Audit().List(context.Background(), store.AuditFilter{Limit: 10000})
	w.must(err)
	return len(evs)
}

// live reports whether session id still exists and its refresh token is unrevoked.
func (w *world) live(id string) (session, refresh bool) {
	w.t.Helper()
	_, err := w.db.Sessions().Get(context.Background(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		w.t.Fatal(err)
	}
	rt, rerr := w.db.RefreshTokens().GetByHash(context.Background(), []byte("rt-"+id))
	w.must(rerr)
	return err == nil, rt.RevokedAt.IsZero()
}

// wantProblems asserts err is *Invalid with at least n problems.
func wantProblems(t *testing.T, err error, n int) {
	t.Helper()
	var inv *Invalid
	if !errors.As(err, &inv) || len(inv.Problems) < n {
		t.Fatalf("got %v, want *Invalid with %d or more problems", err, n)
	}
}

// refused asserts err is the typed error want and that nothing was audited.
func (w *world) refused(t *testing.T, err, want error, auditBefore int) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("got %v, want %v", err, want)
	}
	if n := w.auditTotal(); n != auditBefore {
		t.Errorf("a refused operation wrote %d audit events", n-auditBefore)
	}
}
