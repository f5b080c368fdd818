package operations

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// errAuditCrash is what the audit store fails with inside a transaction.
var errAuditCrash = errors.New("crash before the audit event was stored")

// failAuditStore fails Audit().Append inside its transactions (as a crash
// between the change and its audit event would); outside one it is the store.
type failAuditStore struct{ store.Store }

func (s failAuditStore) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	return s.Store.InTx(ctx, func(tx store.Store) error { return fn(failAuditTx{tx}) })
}

// failAuditTx is a transaction's store whose audit appends fail.
type failAuditTx struct{ store.Store }

func (t failAuditTx) Audit() store.Audit { return failingAudit{t.Store.Audit()} }
func (t failAuditTx) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	return t.Store.InTx(ctx, func(tx store.Store) error { return fn(failAuditTx{tx}) })
}

type failingAudit struct{ store.Audit }

func (failingAudit) Append(context.Context, ...store.AuditEvent) error { return errAuditCrash }

// state is everything an admin operation of these tests may change.
type state struct {
	Providers  []store.ProviderConfig
	Users      []store.User
	Identities [][]store.Identity
	Clients    []store.Client
	APIs       []store.API
	Live       map[string][2]bool // session ID -> session exists, its refresh token unrevoked
	Revoked    time.Time          // latest revocation entry of the world's sessions and users
	Audit      int
}

func (w *world) state(t *testing.T) state {
	t.Helper()
	ctx := t.Context()
	var st state
	var err error
	st.Providers, err = w.db.Providers().List(ctx)
	w.must(err)
	st.Users, err = w.db.Users().List(ctx)
	w.must(err)
	for _, u := range st.Users {
		ids, err := w.db.Identities().ListForUser(ctx, u.ID)
		w.must(err)
		st.Identities = append(st.Identities, ids)
	}
	st.Clients, err = w.db.Clients().List(ctx)
	w.must(err)
	st.APIs, err = w.db.APIs().List(ctx)
	w.must(err)
	st.Live = map[string][2]bool{}
	for _, id := range []string{"s-ann-1", "s-ann-2", "s-bob"} {
		s, rt := w.live(id)
		st.Live[id] = [2]bool{s, rt}
	}
	st.Revoked, err = w.db.Revocations().Latest(ctx, []string{"session:s-ann-1", "session:s-ann-2", "session:s-bob",
		"user:ann", "user:bob", token.RevokeAllKey})
	w.must(err)
	st.Audit = w.auditTotal()
	return st
}

// TestOperationsAreAtomic (ADM-16): an operation whose audit event cannot be
// written changes nothing — the record stays as it was, no session is ended, no
// token revoked — because the change, its cut-off and its event are one
// transaction.
func TestOperationsAreAtomic(t *testing.T) {
	off := false
	disabledSpec := oidcSpec("corp", "https://corp.example")
	disabledSpec.Enabled = &off
	renamed := oidcSpec("corp", "https://corp.example")
	renamed.Name = "Corp renamed"
	for _, tc := range []struct {
		name string
		op   func(ctx context.Context, w *world, ops *Service) error
	}{
		{"add provider", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.UpsertProvider(ctx, admin, oidcSpec("partner", "https://partner.example"))
			return err
		}},
		{"update provider", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.UpsertProvider(ctx, admin, renamed)
			return err
		}},
		{"update provider to disabled", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.UpsertProvider(ctx, admin, disabledSpec)
			return err
		}},
		{"disable provider", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.DisableProvider(ctx, admin, ProviderRef{ID: "corp"})
			return err
		}},
		{"enable provider", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.EnableProvider(ctx, admin, ProviderRef{ID: "corp"})
			return err
		}},
		{"remove provider", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.RemoveProvider(ctx, admin, ProviderRef{ID: "corp"})
			return err
		}},
		{"create client", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.CreateClient(ctx, admin, webClient("web2"))
			return err
		}},
		{"update client", func(ctx context.Context, w *world, ops *Service) error {
			c, err := w.db.Clients().Get(ctx, "web")
			w.must(err)
			c.Name = "Web renamed"
			_, err = ops.UpdateClient(ctx, admin, c)
			return err
		}},
		{"rotate client secret", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.RotateClientSecret(ctx, admin, "web")
			return err
		}},
		{"delete client", func(ctx context.Context, w *world, ops *Service) error {
			return ops.DeleteClient(ctx, admin, "web")
		}},
		{"create API", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.CreateAPI(ctx, admin, store.API{Audience: "https://tasks.test", Name: "Tasks"})
			return err
		}},
		{"update API", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.UpdateAPI(ctx, admin, store.API{ID: "notes", Audience: "https://notes.test", Name: "Notes v2"})
			return err
		}},
		{"delete API", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.DeleteAPI(ctx, admin, "notes", true)
			return err
		}},
		{"disable user", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.DisableUser(ctx, admin, "ann")
			return err
		}},
		{"enable user", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.EnableUser(ctx, admin, "ann")
			return err
		}},
		{"sign out user", func(ctx context.Context, w *world, ops *Service) error {
			_, err := ops.SignOutUser(ctx, admin, "ann")
			return err
		}},
		{"watermark", func(ctx context.Context, w *world, ops *Service) error {
			_, _, err := ops.Watermark(ctx, admin, w.now.Add(time.Second))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.seedClient(t)
			ops := *w.ops
			ops.Store = failAuditStore{w.db}
			before := w.state(t)
			if err := tc.op(t.Context(), w, &ops); !errors.Is(err, errAuditCrash) {
				t.Fatalf("got %v, want the audit write's failure", err)
			}
			if after := w.state(t); !reflect.DeepEqual(after, before) {
				t.Errorf("a failed operation changed the store\nbefore: %+v\n after: %+v", before, after)
			}
		})
	}
}

// TestDisableProviderCommitsTogether (ADM-16): a successful disable stores the
// disabled provider, the end of its sessions and its audit event together.
func TestDisableProviderCommitsTogether(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	ch, err := w.ops.DisableProvider(ctx, admin, ProviderRef{ID: "corp", Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.db.Providers().Get(ctx, "corp")
	w.must(err)
	if p.Enabled || p.Version != 2 || ch.Provider.Version != 2 {
		t.Errorf("provider after disable: enabled %v, version %d (returned %d); want disabled at version 2", p.Enabled, p.Version, ch.Provider.Version)
	}
	for _, id := range []string{"s-ann-1", "s-ann-2"} {
		if s, rt := w.live(id); s || rt {
			t.Errorf("session %s at the disabled provider: exists %v, refresh token unrevoked %v", id, s, rt)
		}
	}
	if s, rt := w.live("s-bob"); !s || !rt {
		t.Error("the session at another provider ended")
	}
	if d := w.audited(t, "provider.disabled", "corp"); d["sessions_ended"] != 2.0 || d["refresh_tokens_revoked"] != 2.0 {
		t.Errorf("provider.disabled details %v, want 2 sessions and 2 refresh tokens", d)
	}
}
