package operations

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// webClient is a valid confidential client of the notes API.
func webClient(id string) store.Client {
	return store.Client{ID: id, Name: "Web", GrantTypes: []string{registry.GrantAuthorizationCode, registry.GrantRefreshToken},
		RedirectURIs: []string{"https://app.test/cb"}, Scopes: []string{"openid"}, DefaultAudience: "https://notes.test"}
}

// TestClientOperations: create (defaults filled, a secret shown once and stored
// as a hash), update (the secret stays), rotate-secret (a new one) and delete
// succeed and record their events by the actor.
func TestClientOperations(t *testing.T) {
	for _, tc := range []struct {
		name   string
		op     func(ctx context.Context, w *world) error
		action string
	}{
		{"create", func(ctx context.Context, w *world) error {
			res, err := w.ops.CreateClient(ctx, admin, webClient("web"))
			c := res.Client
			if err == nil && (res.Secret == "" || c.TokenEndpointAuthMethod != registry.AuthSecretBasic || c.IDTokenSignedResponseAlg != "RS256") {
				t.Errorf("created %+v with secret %q: want client_secret_basic, RS256 and a secret", c, res.Secret)
			}
			if got, _ := w.ops.GetClient(ctx, "web"); !registry.SecretMatches(got.SecretHash, res.Secret) {
				t.Error("the stored hash is not the secret's")
			}
			return err
		}, "client.created"},
		{"update", func(ctx context.Context, w *world) error {
			old := w.seedClient(t)
			c := old
			c.Name, c.SecretHash = "Web v2", []byte("ignored")
			_, err := w.ops.UpdateClient(ctx, admin, c)
			if got, _ := w.ops.GetClient(ctx, "web"); got.Name != "Web v2" || !bytes.Equal(got.SecretHash, old.SecretHash) {
				t.Errorf("after update: %+v", got)
			}
			return err
		}, "client.updated"},
		{"rotate secret", func(ctx context.Context, w *world) error {
			old := w.seedClient(t)
			res, err := w.ops.RotateClientSecret(ctx, admin, "web")
			if got, _ := w.ops.GetClient(ctx, "web"); bytes.Equal(got.SecretHash, old.SecretHash) || !registry.SecretMatches(got.SecretHash, res.Secret) {
				t.Error("the secret was not replaced by the one returned")
			}
			return err
		}, "client.secret_rotated"},
		{"delete", func(ctx context.Context, w *world) error {
			w.seedClient(t)
			err := w.ops.DeleteClient(ctx, admin, "web")
			if _, gerr := w.ops.GetClient(ctx, "web"); err == nil && gerr == nil {
				t.Error("still stored")
			}
			return err
		}, "client.deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			if err := tc.op(t.Context(), w); err != nil {
				t.Fatal(err)
			}
			w.audited(t, tc.action, "web")
		})
	}
}

// seedClient stores webClient("web") with a secret, bypassing the operations.
func (w *world) seedClient(t *testing.T) store.Client {
	t.Helper()
	c := webClient("web")
	c.TokenEndpointAuthMethod, c.IDTokenSignedResponseAlg, c.CreatedAt, c.UpdatedAt = registry.AuthSecretBasic, "RS256", w.now, w.now
	_, c.SecretHash = registry.NewSecret()
	w.must(w.db.Clients().Create(t.Context(), c))
	return c
}

// TestClientRefusals: an unknown client is ErrNotFound, a taken ID ErrConflict;
// a client with problems of its own, an ID-token algorithm this server cannot
// sign and an unregistered resource-server API is refused with every problem at
// once; a secret rotation for a client without one is invalid. A refusal stores,
// changes and audits nothing.
func TestClientRefusals(t *testing.T) {
	bad := store.Client{ID: "bad", GrantTypes: []string{"password"}, LogoURI: "http://logo.test/x.png",
		IDTokenSignedResponseAlg: "EdDSA", ResourceServerFor: []string{"https://nowhere.test"}}
	public := webClient("spa")
	public.Public = true
	for _, tc := range []struct {
		name string
		op   func(ctx context.Context, w *world, before *int) error
		want error
		n    int // problems at least, for an *Invalid
	}{
		{"update unknown", func(ctx context.Context, w *world, _ *int) error {
			_, err := w.ops.UpdateClient(ctx, admin, webClient("nope"))
			return err
		}, ErrNotFound, 0},
		{"rotate unknown", func(ctx context.Context, w *world, _ *int) error {
			_, err := w.ops.RotateClientSecret(ctx, admin, "nope")
			return err
		}, ErrNotFound, 0},
		{"delete unknown", func(ctx context.Context, w *world, _ *int) error { return w.ops.DeleteClient(ctx, admin, "nope") }, ErrNotFound, 0},
		{"ID taken", func(ctx context.Context, w *world, _ *int) error {
			_, err := w.ops.CreateClient(ctx, admin, webClient("web"))
			return err
		}, ErrConflict, 0},
		// grant type, logo, ID-token alg (this server: RS256 and ES256), resource server.
		{"invalid create", func(ctx context.Context, w *world, _ *int) error {
			_, err := w.ops.CreateClient(ctx, admin, bad)
			return err
		}, nil, 4},
		{"invalid update", func(ctx context.Context, w *world, _ *int) error {
			c := webClient("web")
			c.RedirectURIs, c.IDTokenSignedResponseAlg, c.ResourceServerFor = nil, "EdDSA", []string{"https://nowhere.test"}
			_, err := w.ops.UpdateClient(ctx, admin, c)
			return err
		}, nil, 3},
		{"rotate a public client", func(ctx context.Context, w *world, before *int) error {
			res, err := w.ops.CreateClient(ctx, admin, public)
			w.must(err)
			*before = w.auditTotal() // the create above is not the refusal
			_, err = w.ops.RotateClientSecret(ctx, admin, res.Client.ID)
			return err
		}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			seeded := w.seedClient(t)
			before := w.auditTotal()
			err := tc.op(t.Context(), w, &before)
			if tc.n > 0 {
				wantProblems(t, err, tc.n)
				tc.want = err
			}
			w.refused(t, err, tc.want, before)
			if got, _ := w.ops.GetClient(t.Context(), "web"); got.Name != seeded.Name || !bytes.Equal(got.SecretHash, seeded.SecretHash) ||
				len(got.RedirectURIs) != 1 {
				t.Errorf("web after a refusal: %+v", got)
			}
			if _, err := w.ops.GetClient(t.Context(), "bad"); err == nil {
				t.Error("an invalid client was stored")
			}
		})
	}
}

// TestDATA11_UpdateClientStaleVersion: an update from a version that is not
// the stored one — a concurrent edit or a secret rotation won — is ErrConflict
// and changes and audits nothing; each update returns the version it stored.
func TestDATA11_UpdateClientStaleVersion(t *testing.T) {
	w := newWorld(t)
	c := w.seedClient(t)
	c.Version = 1 // what Create stored
	first := c
	first.Name = "First"
	got, err := w.ops.UpdateClient(t.Context(), admin, first)
	w.must(err)
	if got.Version != 2 {
		t.Fatalf("update returned version %d, want 2", got.Version)
	}
	res, err := w.ops.RotateClientSecret(t.Context(), admin, "web")
	w.must(err)
	if res.Client.Version != 3 {
		t.Fatalf("rotation returned version %d, want 3", res.Client.Version)
	}
	for _, stale := range []int64{1, 2} {
		before := w.auditTotal()
		second := got
		second.Name, second.Version = "Second", stale
		_, err = w.ops.UpdateClient(t.Context(), admin, second)
		w.refused(t, err, ErrConflict, before)
	}
	if stored, _ := w.ops.GetClient(t.Context(), "web"); stored.Name != "First" || stored.Version != 3 ||
		!registry.SecretMatches(stored.SecretHash, res.Secret) {
		t.Fatalf("after stale updates: %+v", stored)
	}
}

// TestDeleteClientEndsDelegationsToIt: deleting an app ends the delegations
// people gave it (their tokens stop at once), so an app registered later under
// the same ID inherits nothing; delegations to others stay.
func TestDeleteClientEndsDelegationsToIt(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	app := store.Client{ID: "helper-app", Name: "Helper", GrantTypes: []string{registry.GrantClientCredentials},
		Scopes: []string{"read"}, DefaultAudience: "https://notes.test"}
	if _, err := w.ops.CreateClient(ctx, admin, app); err != nil {
		t.Fatal(err)
	}
	for _, d := range []store.Delegation{
		{ID: "ann-to-app", GrantorID: "ann", GranteeClientID: "helper-app"},
		{ID: "ann-to-bob", GrantorID: "ann", GranteeUserID: "bob"},
	} {
		d.Audience, d.Scopes, d.CreatedAt, d.ExpiresAt = "https://notes.test", []string{"read"}, w.now, w.now.Add(time.Hour)
		w.must(w.db.Delegations().Create(ctx, d))
	}
	if err := w.ops.DeleteClient(ctx, admin, "helper-app"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"ann-to-app": store.DelegationEndGranteeRemoved, "ann-to-bob": ""} {
		d, err := w.db.Delegations().Get(ctx, id)
		w.must(err)
		latest, err := w.db.Revocations().Latest(ctx, []string{token.DelegationRevocationKey(id)})
		w.must(err)
		if d.EndReason != want || latest.IsZero() != (want == "") {
			t.Errorf("%s: ended for %q, access tokens revoked until %v; want %q", id, d.EndReason, latest, want)
		}
	}
	if d := w.audited(t, "client.deleted", "helper-app"); d["delegations_ended"] != float64(1) {
		t.Errorf("client.deleted details %v, want delegations_ended 1", d)
	}
}

// TestClientNamingUnknownAPIOrScopeIsRefused: a client whose default API, other
// API or scope is not registered could never get a token for it, so creating
// it is refused, whoever asks (admin API, console, CLI: they all come here),
// with every problem named and nothing stored. An update is refused only for
// what it adds: a reference the client already had does not block an edit of
// something else.
func TestClientNamingUnknownAPIOrScopeIsRefused(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	before := w.auditTotal()
	c := store.Client{ID: "reporter", Name: "Reporter", GrantTypes: []string{registry.GrantClientCredentials},
		DefaultAudience: "https://nope.test", Audiences: []string{"https://notes.test", "https://gone.test"},
		Scopes: []string{"read", "write", "openid"}}
	_, err := w.ops.CreateClient(ctx, admin, c)
	var inv *Invalid
	if !errors.As(err, &inv) {
		t.Fatalf("create: %v", err)
	}
	for _, want := range []string{`"https://nope.test" is not a registered API`, `"https://gone.test" is not a registered API`,
		`scope "write" is neither an OpenID Connect scope (openid, profile, email, offline_access) nor of its APIs (https://notes.test)`} {
		if !slices.ContainsFunc(inv.Problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("problems %q lack %q", inv.Problems, want)
		}
	}
	if len(inv.Problems) != 3 {
		t.Errorf("problems: %q", inv.Problems)
	}
	if _, err := w.ops.GetClient(ctx, "reporter"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused client was stored: %v", err)
	}
	if n := w.auditTotal(); n != before {
		t.Errorf("a refused create wrote %d audit events", n-before)
	}

	// A client stored with a reference that no longer resolves (its API was
	// deleted under an older version) can still be renamed, but not given more.
	c = store.Client{ID: "reporter", Name: "Reporter", GrantTypes: []string{registry.GrantClientCredentials},
		DefaultAudience: "https://notes.test", Scopes: []string{"read"}}
	if _, err := w.ops.CreateClient(ctx, admin, c); err != nil {
		t.Fatal(err)
	}
	stored, _ := w.ops.GetClient(ctx, "reporter")
	stored.Audiences = []string{"https://gone.test"}
	if err := w.ops.Store.Clients().Update(ctx, stored); err != nil {
		t.Fatal(err)
	}
	stored, _ = w.ops.GetClient(ctx, "reporter")
	stored.Name = "Reporter v2"
	if _, err := w.ops.UpdateClient(ctx, admin, stored); err != nil {
		t.Fatalf("renaming a client with an old dangling reference: %v", err)
	}
	stored, _ = w.ops.GetClient(ctx, "reporter")
	stored.Scopes = append(stored.Scopes, "delete")
	if _, err := w.ops.UpdateClient(ctx, admin, stored); !errors.As(err, &inv) || !strings.Contains(err.Error(), `scope "delete"`) {
		t.Fatalf("adding an unknown scope: %v", err)
	}
}
