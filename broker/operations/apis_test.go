package operations

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
)

// TestAPIOperations: create (with a generated ID), update and delete succeed and
// record their events by the actor; an unknown API is ErrNotFound, a taken
// audience ErrConflict, and an API with several problems is refused with all of
// them; a refusal stores and audits nothing.
func TestAPIOperations(t *testing.T) {
	ok := store.API{Audience: "https://tasks.test", Name: "Tasks", Scopes: []store.Scope{{Name: "tasks.read"}}}
	for _, tc := range []struct {
		name   string
		op     func(ctx context.Context, w *world) (target string, err error)
		action string // "" for a refusal
		want   error  // the refusal
		n      int    // problems at least, for an *Invalid
	}{
		{"create", func(ctx context.Context, w *world) (string, error) {
			a, err := w.ops.CreateAPI(ctx, admin, ok)
			if err == nil && a.ID == "" {
				t.Error("no ID generated")
			}
			return a.ID, err
		}, "api.created", nil, 0},
		{"update", func(ctx context.Context, w *world) (string, error) {
			a, err := w.ops.GetAPI(ctx, "notes")
			w.must(err)
			a.Name = "Notes v2"
			_, err = w.ops.UpdateAPI(ctx, admin, a)
			if got, _ := w.ops.GetAPI(ctx, "notes"); got.Name != "Notes v2" || !got.CreatedAt.Equal(a.CreatedAt) {
				t.Errorf("after update: %+v", got)
			}
			return "notes", err
		}, "api.updated", nil, 0},
		{"delete", func(ctx context.Context, w *world) (string, error) {
			_, err := w.ops.DeleteAPI(ctx, admin, "notes", false)
			if _, gerr := w.ops.GetAPI(ctx, "notes"); err == nil && gerr == nil {
				t.Error("still stored")
			}
			return "notes", err
		}, "api.deleted", nil, 0},
		{"update unknown", func(ctx context.Context, w *world) (string, error) {
			_, err := w.ops.UpdateAPI(ctx, admin, store.API{ID: "nope", Audience: "https://x.test", Name: "X"})
			return "", err
		}, "", ErrNotFound, 0},
		{"delete unknown", func(ctx context.Context, w *world) (string, error) {
			_, err := w.ops.DeleteAPI(ctx, admin, "nope", false)
			return "", err
		}, "", ErrNotFound, 0},
		{"audience taken", func(ctx context.Context, w *world) (string, error) {
			_, err := w.ops.CreateAPI(ctx, admin, store.API{Audience: "https://notes.test", Name: "Copy"})
			return "", err
		}, "", ErrConflict, 0},
		{"invalid", func(ctx context.Context, w *world) (string, error) {
			_, err := w.ops.CreateAPI(ctx, admin, store.API{Audience: "not a uri#x", Scopes: []store.Scope{{Name: "a"}, {Name: "a"}, {Name: "b c"}}})
			return "", err
		}, "", nil, 4}, // audience, name, scope twice, bad scope token
		{"delegation policy", func(ctx context.Context, w *world) (string, error) {
			a := ok
			a.Delegation = store.DelegationPolicy{Allowed: true, MaxDuration: 168 * time.Hour,
				Scopes: []string{"tasks.read"}, Redelegation: true}
			got, err := w.ops.CreateAPI(ctx, admin, a)
			if stored, _ := w.ops.GetAPI(ctx, got.ID); err == nil && !reflect.DeepEqual(stored.Delegation, a.Delegation) {
				t.Errorf("stored policy %+v, want %+v", stored.Delegation, a.Delegation)
			}
			return got.ID, err
		}, "api.created", nil, 0},
		{"invalid delegation policy", func(ctx context.Context, w *world) (string, error) {
			a := ok
			a.Delegation = store.DelegationPolicy{Allowed: true, Scopes: []string{"tasks.write"}}
			_, err := w.ops.CreateAPI(ctx, admin, a)
			return "", err
		}, "", nil, 2}, // not a scope of the API, no maximum duration
		{"update leaves a delegable scope behind", func(ctx context.Context, w *world) (string, error) {
			a, err := w.ops.GetAPI(ctx, "notes")
			w.must(err)
			a.Delegation = store.DelegationPolicy{Allowed: true, MaxDuration: time.Hour, Scopes: []string{"gone"}}
			_, err = w.ops.UpdateAPI(ctx, admin, a)
			return "", err
		}, "", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			before := w.auditTotal()
			target, err := tc.op(t.Context(), w)
			switch {
			case tc.action != "":
				if err != nil {
					t.Fatal(err)
				}
				w.audited(t, tc.action, target)
				return
			case tc.n > 0:
				wantProblems(t, err, tc.n)
				w.refused(t, err, err, before)
			default:
				w.refused(t, err, tc.want, before)
			}
			if as, _ := w.ops.ListAPIs(t.Context()); len(as) != 1 || as[0].Name != "Notes" {
				t.Errorf("APIs after a refusal: %+v", as)
			}
		})
	}
}

// TestDeleteAPIInUse: an API that clients still name is not deleted (their
// token requests would fail, and an API registered later under the same
// audience would silently be theirs again): ErrConflict naming them, nothing
// changed or recorded. With unlink it is removed from each client first, each
// change recorded as client.updated, then deleted.
func TestDeleteAPIInUse(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	if _, err := w.ops.CreateAPI(ctx, admin, store.API{ID: "files", Audience: "https://files.test", Name: "Files",
		Scopes: []store.Scope{{Name: "files.read"}}}); err != nil {
		t.Fatal(err)
	}
	web := store.Client{ID: "web", Name: "Web", GrantTypes: []string{registry.GrantClientCredentials},
		DefaultAudience: "https://files.test", Audiences: []string{"https://notes.test"}, Scopes: []string{"files.read", "read"}}
	gateway := store.Client{ID: "gateway", Name: "Gateway", GrantTypes: []string{registry.GrantClientCredentials},
		DefaultAudience: "https://notes.test", Audiences: []string{"https://files.test"}, ResourceServerFor: []string{"https://files.test"},
		Scopes: []string{"read"}}
	for _, c := range []store.Client{web, gateway} {
		if _, err := w.ops.CreateClient(ctx, admin, c); err != nil {
			t.Fatal(err)
		}
	}
	before := w.auditTotal()
	uses, err := w.ops.DeleteAPI(ctx, admin, "files", false)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "the clients gateway, web use it") {
		t.Fatalf("delete in use: %v", err)
	}
	if len(uses) != 2 {
		t.Errorf("uses: %+v", uses)
	}
	if _, err := w.ops.GetAPI(ctx, "files"); err != nil {
		t.Fatalf("a refused delete removed the API: %v", err)
	}
	if got, _ := w.ops.GetClient(ctx, "web"); got.DefaultAudience != "https://files.test" || got.Version != 1 {
		t.Fatalf("a refused delete changed a client: %+v", got)
	}
	if n := w.auditTotal(); n != before {
		t.Fatalf("a refused delete wrote %d audit events", n-before)
	}

	uses, err = w.ops.DeleteAPI(ctx, admin, "files", true)
	if err != nil {
		t.Fatal(err)
	}
	want := []APIUse{{ClientID: "gateway", ClientName: "Gateway", Where: []string{"its APIs", "the APIs it is the resource server of"}},
		{ClientID: "web", ClientName: "Web", Where: []string{"its default API"}}}
	if !reflect.DeepEqual(uses, want) {
		t.Errorf("unlinked %+v, want %+v", uses, want)
	}
	if got, _ := w.ops.GetClient(ctx, "web"); got.DefaultAudience != "" || got.Version != 2 || !slices.Equal(got.Audiences, []string{"https://notes.test"}) {
		t.Errorf("web after unlink: %+v", got)
	}
	if got, _ := w.ops.GetClient(ctx, "gateway"); len(got.Audiences) != 0 || len(got.ResourceServerFor) != 0 || got.DefaultAudience != "https://notes.test" {
		t.Errorf("gateway after unlink: %+v", got)
	}
	if _, err := w.ops.GetAPI(ctx, "files"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("still stored: %v", err)
	}
	if n := w.auditTotal() - before; n != 3 {
		t.Errorf("%d audit events, want 2 client.updated and api.deleted", n)
	}
}
