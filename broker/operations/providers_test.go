package operations

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

func oidcSpec(id, issuer string) upstream.Spec {
	return upstream.Spec{ID: id, Kind: upstream.KindOIDC, Name: "Provider " + id,
		OIDC: &upstream.OIDCSettings{Issuer: issuer, ClientID: "gatehouse"}, ClientSecret: "s3cret"}
}

// TestProviderChanges: each provider operation succeeds, changes what it says,
// cuts off what disable and remove end, and records its event by the actor.
func TestProviderChanges(t *testing.T) {
	off := false
	disabledSpec := oidcSpec("corp", "https://corp.example")
	disabledSpec.Enabled = &off
	for _, tc := range []struct {
		name     string
		change   func(ctx context.Context, w *world) (ProviderChange, error)
		action   string
		target   string
		enabled  bool // corp or the new provider afterwards
		sessions int  // ended by the change's cut-off; -1: no cut-off
	}{
		{"add", func(ctx context.Context, w *world) (ProviderChange, error) {
			return w.ops.UpsertProvider(ctx, admin, oidcSpec("partner", "https://partner.example"))
		}, "provider.added", "partner", true, -1},
		{"update", func(ctx context.Context, w *world) (ProviderChange, error) {
			return w.ops.UpsertProvider(ctx, admin, oidcSpec("corp", "https://corp.example"))
		}, "provider.updated", "corp", true, -1},
		{"update to disabled", func(ctx context.Context, w *world) (ProviderChange, error) {
			return w.ops.UpsertProvider(ctx, admin, disabledSpec)
		}, "provider.disabled", "corp", false, 2},
		{"disable", func(ctx context.Context, w *world) (ProviderChange, error) {
			return w.ops.DisableProvider(ctx, admin, ProviderRef{ID: "corp"})
		}, "provider.disabled", "corp", false, 2},
		{"disable at the version read", func(ctx context.Context, w *world) (ProviderChange, error) {
			return w.ops.DisableProvider(ctx, admin, ProviderRef{ID: "corp", Version: 1})
		}, "provider.disabled", "corp", false, 2},
		{"enable", func(ctx context.Context, w *world) (ProviderChange, error) {
			return w.ops.EnableProvider(ctx, admin, ProviderRef{ID: "corp"})
		}, "provider.enabled", "corp", true, -1},
		{"remove", func(ctx context.Context, w *world) (ProviderChange, error) {
			return w.ops.RemoveProvider(ctx, admin, ProviderRef{ID: "corp"})
		}, "provider.removed", "corp", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			ctx := t.Context()
			ch, err := tc.change(ctx, w)
			if err != nil {
				t.Fatal(err)
			}
			w.audited(t, tc.action, tc.target)
			p, err := w.ops.GetProvider(ctx, tc.target)
			if tc.action == "provider.removed" {
				if err == nil {
					t.Error("the provider is still stored")
				}
			} else if err != nil || p.Enabled != tc.enabled || p.Version != ch.Provider.Version {
				t.Errorf("stored %+v (%v), want enabled %v at version %d", p, err, tc.enabled, ch.Provider.Version)
			}
			if tc.sessions < 0 {
				if ch.CutOff != nil {
					t.Errorf("cut-off %+v, want none", ch.CutOff)
				}
				if s, rt := w.live("s-ann-1"); !s || !rt {
					t.Error("corp's session was ended by a change that ends nothing")
				}
				return
			}
			if ch.CutOff == nil || ch.CutOff.Sessions != tc.sessions || ch.CutOff.RefreshTokens != int64(tc.sessions) {
				t.Errorf("cut-off %+v, want %d sessions and refresh tokens", ch.CutOff, tc.sessions)
			}
			for _, id := range []string{"s-ann-1", "s-ann-2"} {
				if s, rt := w.live(id); s || rt {
					t.Errorf("%s after %s: session %v, refresh token %v", id, tc.name, s, rt)
				}
			}
			if s, rt := w.live("s-bob"); !s || !rt {
				t.Error("another provider's session was ended")
			}
		})
	}
}

// TestProviderRefusals: a provider that does not exist, a spec with several
// problems, and a change at a stale version are refused with their typed errors,
// every problem at once; nothing is stored, ended or audited.
func TestProviderRefusals(t *testing.T) {
	bad := upstream.Spec{ID: "Not An ID", Kind: upstream.KindOIDC, OIDC: &upstream.OIDCSettings{}}
	for _, tc := range []struct {
		name   string
		change func(ctx context.Context, w *world) error
		want   error
	}{
		{"disable unknown", func(ctx context.Context, w *world) error {
			_, err := w.ops.DisableProvider(ctx, admin, ProviderRef{ID: "nope"})
			return err
		}, ErrNotFound},
		{"enable unknown", func(ctx context.Context, w *world) error {
			_, err := w.ops.EnableProvider(ctx, admin, ProviderRef{ID: "nope"})
			return err
		}, ErrNotFound},
		{"remove unknown", func(ctx context.Context, w *world) error {
			_, err := w.ops.RemoveProvider(ctx, admin, ProviderRef{ID: "nope"})
			return err
		}, ErrNotFound},
		{"show unknown", func(ctx context.Context, w *world) error {
			_, err := w.ops.GetProvider(ctx, "nope")
			return err
		}, ErrNotFound},
		{"disable at a stale version", func(ctx context.Context, w *world) error {
			_, err := w.ops.DisableProvider(ctx, admin, ProviderRef{ID: "corp", Version: 7})
			return err
		}, ErrConflict},
		{"remove at a stale version", func(ctx context.Context, w *world) error {
			_, err := w.ops.RemoveProvider(ctx, admin, ProviderRef{ID: "corp", Version: 7})
			return err
		}, ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			before := w.auditTotal()
			w.refused(t, tc.change(t.Context(), w), tc.want, before)
			if p, err := w.db.Providers().Get(t.Context(), "corp"); err != nil || !p.Enabled || p.Version != 1 {
				t.Errorf("corp after a refused change: %+v %v", p, err)
			}
			if s, rt := w.live("s-ann-1"); !s || !rt {
				t.Error("a refused change ended a session")
			}
		})
	}
	t.Run("invalid", func(t *testing.T) {
		w := newWorld(t)
		before := w.auditTotal()
		_, err := w.ops.UpsertProvider(t.Context(), admin, bad)
		wantProblems(t, err, 2) // the ID and the missing name
		w.refused(t, err, err, before)
		if ps, _ := w.ops.ListProviders(t.Context()); len(ps) != 2 {
			t.Errorf("%d providers after a refused add", len(ps))
		}
	})
	t.Run("issuer of another provider", func(t *testing.T) {
		w := newWorld(t)
		before := w.auditTotal()
		_, err := w.ops.UpsertProvider(t.Context(), admin, oidcSpec("copy", "https://corp.example"))
		wantProblems(t, err, 1)
		w.refused(t, err, err, before)
	})
	t.Run("concurrent edit", func(t *testing.T) {
		// The admin read version 1; another edit stored version 2 meanwhile.
		w := newWorld(t)
		ctx := t.Context()
		p, err := w.ops.GetProvider(ctx, "corp")
		w.must(err)
		p.Name = "Corp (renamed)"
		w.must(w.db.Providers().Update(ctx, p))
		before := w.auditTotal()
		_, err = w.ops.DisableProvider(ctx, admin, ProviderRef{ID: "corp", Version: p.Version})
		w.refused(t, err, ErrConflict, before)
		if got, _ := w.db.Providers().Get(ctx, "corp"); !got.Enabled {
			t.Error("a refused disable disabled corp")
		}
	})
}

// TestRemoveProviderLeavesNoClientExchanging: a removed provider is taken off the
// lists of the clients that could exchange its tokens, in the removal's
// transaction, so a provider created later under its ID is nobody's to exchange
// for, and those clients stay valid to update.
func TestRemoveProviderLeavesNoClientExchanging(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	svc := store.Client{ID: "svc", Name: "svc", GrantTypes: []string{registry.GrantTokenExchange},
		ExchangeTokenTypes: []string{registry.TokenTypeIDToken}, ExchangeProviders: []string{"corp", "uni"}}
	if _, err := w.ops.CreateClient(ctx, admin, svc); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ops.RemoveProvider(ctx, admin, ProviderRef{ID: "corp"}); err != nil {
		t.Fatal(err)
	}
	got, err := w.ops.GetClient(ctx, "svc")
	if err != nil || !slices.Equal(got.ExchangeProviders, []string{"uni"}) {
		t.Fatalf("after removing corp, svc exchanges for %q (%v), want [uni]", got.ExchangeProviders, err)
	}
	w.audited(t, "client.updated", "svc")
	if _, err := w.ops.UpdateClient(ctx, admin, got); err != nil {
		t.Errorf("the client no longer updates: %v", err)
	}
	if _, err := w.ops.UpsertProvider(ctx, admin, oidcSpec("corp", "https://corp.example")); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.ops.GetClient(ctx, "svc"); slices.Contains(got.ExchangeProviders, "corp") {
		t.Error("a provider re-created under the removed one's ID is exchangeable at once")
	}
}

// TestDATA11_CreateAndUpdateProviderAtAVersion: CreateProvider refuses an ID
// taken, UpdateProvider a version that is not the stored one and a provider
// that does not exist; each refusal stores and records nothing.
func TestDATA11_CreateAndUpdateProviderAtAVersion(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	before, err := w.ops.GetProvider(ctx, "corp")
	if err != nil {
		t.Fatal(err)
	}
	spec := oidcSpec("corp", "https://corp.example")
	spec.Name = "Changed"
	if _, err := w.ops.CreateProvider(ctx, admin, spec); !errors.Is(err, ErrConflict) {
		t.Errorf("create over corp: %v, want ErrConflict", err)
	}
	if _, err := w.ops.UpdateProvider(ctx, admin, spec, before.Version+1); !errors.Is(err, ErrConflict) {
		t.Errorf("update from a version not stored: %v, want ErrConflict", err)
	}
	if _, err := w.ops.UpdateProvider(ctx, admin, oidcSpec("nobody", "https://nobody.example"), 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a provider not stored: %v, want ErrNotFound", err)
	}
	if p, _ := w.ops.GetProvider(ctx, "corp"); p.Name != before.Name || p.Version != before.Version {
		t.Fatalf("corp changed: %+v", p)
	}
	for _, action := range []string{"provider.added", "provider.updated"} {
		if evs := w.events(action); len(evs) != 0 {
			t.Fatalf("%s events %+v", action, evs)
		}
	}
	ch, err := w.ops.UpdateProvider(ctx, admin, spec, before.Version)
	if err != nil || ch.Provider.Name != "Changed" || ch.Provider.Version != before.Version+1 {
		t.Fatalf("update from the stored version: %+v %v", ch.Provider, err)
	}
	w.audited(t, "provider.updated", "corp")
}
