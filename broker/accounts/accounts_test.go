package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/internal/testsupport"
	"github.com/gatehouse/gatehouse/providers"
)

var t0 = time.Date(2031, 1, 1, 12, 0, 0, 0, time.UTC)

// world is a Resolver on a fresh SQLite database with a fixed clock and these
// providers: corp and corp2 trusted for linking and owning corp.example; hr
// owning corp.example but not trusted for linking; social neither. ann signed up at corp (ann@corp.example, vouched for);
// sam at social with sam@corp.example, which nobody vouched for.
type world struct {
	t   *testing.T
	db  *sqlstore.DB
	aw  *audit.Writer
	res *Resolver
	p   map[string]store.ProviderConfig
	// ctx carries a request's info, as the middleware sets it; ip and rid are
	// what the audit events must carry.
	ctx     context.Context
	ip, rid string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	db := testsupport.OpenSQLite(t)
	clock := func() time.Time { return t0 }
	aw := audit.NewWriter(db.Audit(), slog.New(slog.DiscardHandler), audit.Options{Now: clock})
	t.Cleanup(func() { aw.Close(context.Background()) })
	w := &world{t: t, db: db, aw: aw, p: map[string]store.ProviderConfig{},
		res: &Resolver{Store: db, Audit: aw, Log: slog.New(slog.DiscardHandler), Now: clock}}
	for _, p := range []store.ProviderConfig{
		{ID: "corp", TrustEmailLinking: true, Domains: []string{"corp.example"}},
		{ID: "corp2", TrustEmailLinking: true, Domains: []string{"corp.example"}},
		{ID: "hr", Domains: []string{"corp.example"}},
		{ID: "social"},
	} {
		p.Kind, p.Name, p.Enabled, p.Settings, p.CreatedAt, p.UpdatedAt = "oidc", p.ID, true, []byte(`{}`), t0, t0
		w.must(db.Providers().Create(ctx, p))
		w.p[p.ID] = p
	}
	w.must(db.Identities().LinkNewUser(ctx, store.User{ID: "ann", Email: "ann@corp.example", EmailVerified: true, CreatedAt: t0, UpdatedAt: t0},
		store.Identity{ProviderID: "corp", Subject: "sub-ann", Email: "ann@corp.example", EmailVerified: true, LinkedAt: t0}))
	w.must(db.Identities().LinkNewUser(ctx, store.User{ID: "sam", Email: "sam@corp.example", EmailVerified: true, CreatedAt: t0, UpdatedAt: t0},
		store.Identity{ProviderID: "social", Subject: "sub-sam", Email: "sam@corp.example", EmailVerified: true, LinkedAt: t0}))
	w.requestContext()
	return w
}

// requestContext runs a request through the request-info middleware and keeps
// its context, as a handler calling the Resolver has it.
func (w *world) requestContext() {
	core := &web.Core{Config: &config.Config{}, Now: func() time.Time { return t0 }}
	req := httptest.NewRequest(http.MethodPost, "/", nil).WithContext(w.t.Context())
	req.RemoteAddr = "192.0.2.7:4711"
	rec := httptest.NewRecorder()
	core.WithRequestInfo(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { w.ctx = r.Context() })).ServeHTTP(rec, req)
	w.ip, w.rid = "192.0.2.7", rec.Header().Get("X-Request-ID")
	if w.rid == "" {
		w.t.Fatal("no request ID")
	}
}

func (w *world) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// users returns every user's ID.
func (w *world) users() []string {
	w.t.Helper()
	us, err := w.db.Users().List(w.t.Context())
	w.must(err)
	var ids []string
	for _, u := range us {
		ids = append(ids, u.ID)
	}
	return ids
}

// events returns the audit events with action, once every queued one is stored.
func (w *world) events(action string) []store.AuditEvent {
	w.t.Helper()
	w.must(w.aw.Flush(w.t.Context()))
	evs, err := w.db.Audit().List(w.t.Context(), store.AuditFilter{Action: action})
	w.must(err)
	return evs
}

// checkEvent asserts one event with action, by actor, carrying the request's
// IP and ID and the detail want.
func (w *world) checkEvent(action, actor string, want map[string]string) {
	w.t.Helper()
	evs := w.events(action)
	if len(evs) != 1 {
		w.t.Fatalf("%d %s events, want 1", len(evs), action)
	}
	e := evs[0]
	var d map[string]any
	w.must(json.Unmarshal(e.Details, &d))
	if e.Actor != actor || e.IP != w.ip || e.RequestID != w.rid {
		w.t.Errorf("%s event = actor %q ip %q request %q, want %q %q %q", action, e.Actor, e.IP, e.RequestID, actor, w.ip, w.rid)
	}
	for k, v := range want {
		if d[k] != v {
			w.t.Errorf("%s event %s = %v, want %q", action, k, d[k], v)
		}
	}
}

func ident(provider, subject, email string, verified bool) providers.Identity {
	return providers.Identity{ProviderID: provider, Subject: subject, Email: email, EmailVerified: verified, Name: "Someone",
		Claims: map[string]any{"sub": subject}}
}

func TestLinkedReturnsTheLinkedUser(t *testing.T) {
	w := newWorld(t)
	u, err := w.res.Linked(w.ctx, "corp", "sub-ann")
	if err != nil || u.ID != "ann" {
		t.Fatalf("Linked = %q, %v; want ann", u.ID, err)
	}
	if _, err := w.res.Linked(w.ctx, "corp", "sub-nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Linked(unknown) = %v, want ErrNotFound", err)
	}
}

// A linked identity is its user, whatever its email says now; the login record
// is left to the caller to write.
func TestResolveLinkedIdentity(t *testing.T) {
	w := newWorld(t)
	u, login, err := w.res.Resolve(w.ctx, w.p["corp"], ident("corp", "sub-ann", "sam@corp.example", true))
	if err != nil || u.ID != "ann" {
		t.Fatalf("Resolve = %q, %v; want ann", u.ID, err)
	}
	if login.UserID != "ann" || login.ProviderID != "corp" || login.Subject != "sub-ann" || login.Email != "sam@corp.example" || !login.LastLoginAt.Equal(t0) {
		t.Errorf("login record = %+v", login)
	}
	if got := w.users(); len(got) != 2 {
		t.Errorf("users = %q, want ann and sam only", got)
	}
	if evs := w.events(""); len(evs) != 0 {
		t.Errorf("audit events %+v for a sign-in of a linked identity", evs)
	}
}

// A new identity whose email no account has gets a new user, linked in the same
// transaction, with the profile the provider gave.
func TestResolveNewIdentityCreatesUser(t *testing.T) {
	w := newWorld(t)
	u, login, err := w.res.Resolve(w.ctx, w.p["social"], ident("social", "sub-new", "new@else.example", true))
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == "" || u.Email != "new@else.example" || !u.EmailVerified || u.Name != "Someone" || !u.CreatedAt.Equal(t0) {
		t.Errorf("new user = %+v", u)
	}
	if login.ProviderID != "" {
		t.Errorf("login record %+v: linking wrote it", login)
	}
	got, err := w.res.Linked(w.ctx, "social", "sub-new")
	if err != nil || got.ID != u.ID {
		t.Fatalf("identity linked to %q, %v; want %q", got.ID, err, u.ID)
	}
	id, err := w.db.Identities().Get(w.ctx, "social", "sub-new")
	w.must(err)
	if !id.LinkedAt.Equal(t0) || !id.LastLoginAt.Equal(t0) || string(id.Claims) != `{"sub":"sub-new"}` {
		t.Errorf("stored identity = %+v", id)
	}
	w.checkEvent("user.created", u.ID, map[string]string{"subject": "sub-new"})
}

// OIDC-24: the key is (provider, subject): the same subject at another provider
// is another identity, and gets its own user.
func TestOIDC24_ResolveSameSubjectAtAnotherProvider(t *testing.T) {
	w := newWorld(t)
	u, _, err := w.res.Resolve(w.ctx, w.p["social"], ident("social", "sub-ann", "", false))
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == "ann" || u.ID == "" {
		t.Fatalf("social's sub-ann resolved to %q, want a new user", u.ID)
	}
}

// A provider that vouches for a verified email (trusted, its own domain) links
// the new identity to the one account whose email a provider of its own
// vouched for.
func TestResolveVouchedEmailLinks(t *testing.T) {
	w := newWorld(t)
	u, login, err := w.res.Resolve(w.ctx, w.p["corp2"], ident("corp2", "sub-ann2", "Ann@Corp.Example", true))
	if err != nil || u.ID != "ann" {
		t.Fatalf("Resolve = %q, %v; want ann", u.ID, err)
	}
	if login.ProviderID != "" {
		t.Errorf("login record %+v: linking wrote it", login)
	}
	id, err := w.db.Identities().Get(w.ctx, "corp2", "sub-ann2")
	if err != nil || id.UserID != "ann" || !id.LinkedAt.Equal(t0) {
		t.Fatalf("identity = %+v, %v; want linked to ann", id, err)
	}
	if got := w.users(); len(got) != 2 {
		t.Errorf("users = %q, want no new one", got)
	}
	w.checkEvent("identity.linked", "ann", map[string]string{"by": "verified_email", "subject": "sub-ann2"})
	if evs := w.events("user.created"); len(evs) != 0 {
		t.Errorf("user.created events %+v", evs)
	}
}

// OIDC-23, WEB-25 and account pre-hijacking: a new identity whose verified email
// an account has, but that the provider cannot vouch for or that no single
// vouched-for account owns, links nothing and creates nothing: ErrEmailTaken,
// and the person chooses.
func TestWEB25_OIDC23_ResolveEmailTakenLinksNothing(t *testing.T) {
	for _, tc := range []struct {
		name, provider, email string
		setup                 func(w *world)
	}{
		{"provider not trusted for linking", "hr", "ann@corp.example", nil},
		{"provider neither trusted nor owning the domain", "social", "ann@corp.example", nil},
		// A trusted provider cannot claim another provider's people: bob's
		// account is vouched for by uni, which owns uni.example.
		{"trusted provider, email outside its domains", "corp", "bob@uni.example", func(w *world) {
			w.must(w.db.Providers().Create(w.ctx, store.ProviderConfig{ID: "uni", Kind: "oidc", Name: "uni", Enabled: true,
				TrustEmailLinking: true, Domains: []string{"uni.example"}, Settings: []byte(`{}`), CreatedAt: t0, UpdatedAt: t0}))
			w.must(w.db.Identities().LinkNewUser(w.ctx, store.User{ID: "bob", Email: "bob@uni.example", EmailVerified: true, CreatedAt: t0, UpdatedAt: t0},
				store.Identity{ProviderID: "uni", Subject: "sub-bob", Email: "bob@uni.example", EmailVerified: true, LinkedAt: t0}))
		}},
		// Pre-hijacking: sam's account was opened with an email nobody vouched for.
		{"account's email vouched by nobody", "corp2", "sam@corp.example", nil},
		{"two vouched-for accounts", "corp2", "ann@corp.example", func(w *world) {
			w.must(w.db.Identities().LinkNewUser(w.ctx, store.User{ID: "ann-too", Email: "ann@corp.example", EmailVerified: true, CreatedAt: t0, UpdatedAt: t0},
				store.Identity{ProviderID: "corp", Subject: "sub-ann-too", Email: "ann@corp.example", EmailVerified: true, LinkedAt: t0}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			if tc.setup != nil {
				tc.setup(w)
			}
			before := w.users()
			u, login, err := w.res.Resolve(w.ctx, w.p[tc.provider], ident(tc.provider, "sub-x", tc.email, true))
			if !errors.Is(err, ErrEmailTaken) {
				t.Fatalf("Resolve = %q, %v; want ErrEmailTaken", u.ID, err)
			}
			if u.ID != "" || login.ProviderID != "" {
				t.Errorf("Resolve returned %+v, %+v with its error", u, login)
			}
			if _, err := w.db.Identities().Get(w.ctx, tc.provider, "sub-x"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("identity stored: %v", err)
			}
			if got := w.users(); len(got) != len(before) {
				t.Errorf("users %q, were %q", got, before)
			}
			if evs := w.events(""); len(evs) != 0 {
				t.Errorf("audit events %+v", evs)
			}
		})
	}
}

// OIDC-23: an unverified email proves nothing: the identity gets a new user,
// even at a trusted provider and with an account's email, and the new user's
// email stays unverified.
func TestOIDC23_ResolveUnverifiedEmailNewUser(t *testing.T) {
	w := newWorld(t)
	u, _, err := w.res.Resolve(w.ctx, w.p["corp2"], ident("corp2", "sub-x", "ann@corp.example", false))
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == "ann" || u.ID == "" || u.EmailVerified {
		t.Fatalf("resolved to %+v, want a new user with an unverified email", u)
	}
	if evs := w.events("identity.linked"); len(evs) != 0 {
		t.Errorf("identity.linked events %+v", evs)
	}
	w.checkEvent("user.created", u.ID, map[string]string{"subject": "sub-x"})
}

// NewUser keeps the identity apart from accounts with its email: the person
// chose a separate account.
func TestNewUserIgnoresAccountsWithTheEmail(t *testing.T) {
	w := newWorld(t)
	u, err := w.res.NewUser(w.ctx, ident("social", "sub-x", "ann@corp.example", true))
	if err != nil || u.ID == "ann" || u.ID == "" {
		t.Fatalf("NewUser = %q, %v; want a new user", u.ID, err)
	}
	if got, err := w.res.Linked(w.ctx, "social", "sub-x"); err != nil || got.ID != u.ID {
		t.Fatalf("identity linked to %q, %v", got.ID, err)
	}
	if _, err := w.res.NewUser(w.ctx, ident("social", "sub-x", "", false)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("NewUser of a linked identity = %v, want ErrConflict", err)
	}
}

// racingStore is a store whose first LinkNewUser of a (provider, subject) lets a
// concurrent first sign-in of the same identity win just before it.
type racingStore struct {
	store.Store
	winner store.User
}

func (s *racingStore) Identities() store.Identities {
	return &racingIdentities{Identities: s.Store.Identities(), s: s}
}

type racingIdentities struct {
	store.Identities
	s *racingStore
}

func (i *racingIdentities) LinkNewUser(ctx context.Context, u store.User, id store.Identity) error {
	if i.s.winner.ID == "" {
		i.s.winner = store.User{ID: "winner", Email: u.Email, CreatedAt: t0, UpdatedAt: t0}
		if err := i.Identities.LinkNewUser(ctx, i.s.winner, id); err != nil {
			return err
		}
	}
	return i.Identities.LinkNewUser(ctx, u, id)
}

// Two first sign-ins of one identity at once: the one that loses the link
// (ErrConflict, nothing stored) signs in as the user the other created.
func TestResolveConcurrentFirstSignInJoinsTheWinner(t *testing.T) {
	w := newWorld(t)
	rs := &racingStore{Store: w.db}
	w.res.Store = rs
	u, login, err := w.res.Resolve(w.ctx, w.p["social"], ident("social", "sub-x", "x@else.example", true))
	if err != nil || u.ID != "winner" {
		t.Fatalf("Resolve = %q, %v; want the winner", u.ID, err)
	}
	if login.UserID != "winner" || login.Subject != "sub-x" {
		t.Errorf("login record = %+v, want winner's", login)
	}
	if got := w.users(); len(got) != 3 {
		t.Errorf("users = %q, want ann, sam and the winner: no user left without an identity", got)
	}
	if evs := w.events("user.created"); len(evs) != 0 {
		t.Errorf("user.created events %+v for a user this request did not create", evs)
	}
}
