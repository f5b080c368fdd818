package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

// cliWorld is a database as a running Gatehouse leaves it: providers corp and
// uni, users ann (signed in at corp, twice) and bob (at uni), each session with
// a refresh token.
type cliWorld struct {
	vars map[string]string
	db   *sqlstore.DB
}

func newCLIWorld(t *testing.T) *cliWorld {
	t.Helper()
	vars := baseVars(t)
	if out, err := runCommand(t, vars, "migrate", "up"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, vars["GATEHOUSE_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now()
	w := &cliWorld{vars: vars, db: db}
	for _, p := range []string{"corp", "uni"} {
		w.must(t, db.Providers().Create(ctx, store.ProviderConfig{ID: p, Kind: "oidc", Name: p, Enabled: true,
			Settings: []byte(`{"issuer":"https://` + p + `.example","client_id":"gatehouse"}`), CreatedAt: now, UpdatedAt: now}))
	}
	for _, u := range []struct{ id, email, provider string }{{"ann", "ann@corp.example", "corp"}, {"bob", "bob@uni.example", "uni"}} {
		w.must(t, db.Identities().LinkNewUser(ctx, store.User{ID: u.id, Email: u.email, EmailVerified: true, Name: strings.ToUpper(u.id),
			CreatedAt: now, UpdatedAt: now}, store.Identity{ProviderID: u.provider, Subject: "sub-" + u.id, Email: u.email, LinkedAt: now}))
	}
	for _, s := range []struct{ id, user, provider string }{{"s-ann-1", "ann", "corp"}, {"s-ann-2", "ann", "corp"}, {"s-bob", "bob", "uni"}} {
		w.must(t, db.Sessions().Create(ctx, store.Session{ID: s.id, TokenHash: []byte("h-" + s.id), UserID: s.user, ProviderID: s.provider,
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}))
		w.must(t, db.RefreshTokens().Create(ctx, store.RefreshToken{TokenHash: []byte("rt-" + s.id), FamilyID: "f-" + s.id, GrantID: "g-" + s.id,
			ClientID: "web", UserID: s.user, SessionID: s.id, CreatedAt: now.Add(-time.Second), ExpiresAt: now.Add(time.Hour)}))
	}
	return w
}

func (w *cliWorld) must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (w *cliWorld) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCommand(t, w.vars, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return out
}

// live reports whether session id still exists and whether its refresh token is unrevoked.
func (w *cliWorld) live(t *testing.T, id string) (session, refresh bool) {
	t.Helper()
	_, err := w.db.Sessions().Get(context.Background(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	rt, rerr := w.db.RefreshTokens().GetByHash(context.Background(), []byte("rt-"+id))
	w.must(t, rerr)
	return err == nil, rt.RevokedAt.IsZero()
}

// revokedAccess reports whether the revocation list covers an access token
// issued a second ago with key.
func (w *cliWorld) revokedAccess(t *testing.T, key string) bool {
	t.Helper()
	latest, err := w.db.Revocations().Latest(context.Background(), []string{key})
	w.must(t, err)
	return !latest.IsZero() && !latest.Before(time.Now().Add(-time.Second))
}

// audited returns the admin's audit event with action on target.
func (w *cliWorld) audited(t *testing.T, action, target string) map[string]any {
	t.Helper()
	evs, err := w.db.Audit().List(context.Background(), store.AuditFilter{Actor: "admin", Action: action, Target: target})
	w.must(t, err)
	if len(evs) != 1 {
		t.Fatalf("%d %s audit events for %s, want 1", len(evs), action, target)
	}
	var d map[string]any
	w.must(t, json.Unmarshal(evs[0].Details, &d))
	return d
}

// TestUsersList: every user with email, name, disabled and how many identities;
// --email filters; --json prints the admin API's people (admin.UserJSON).
func TestUsersList(t *testing.T) {
	w := newCLIWorld(t)
	out := w.run(t, "users", "list")
	for _, want := range []string{"ID", "IDENTITIES", "ann", "ann@corp.example", "ANN", "bob@uni.example", "false"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if out := w.run(t, "users", "show", "ann@corp.example"); !strings.Contains(out, "Identity corp / sub-ann") {
		t.Errorf("show:\n%s", out)
	}
	var rows []admin.UserJSON
	if err := json.Unmarshal([]byte(w.run(t, "users", "list", "--json", "--email", "BOB@uni.example")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].ID != "bob" || rows[0].Email != "bob@uni.example" || rows[0].Name != "BOB" || !rows[0].EmailVerified ||
		rows[0].Disabled || rows[0].CreatedAt.IsZero() {
		t.Errorf("list --json --email: %+v", rows)
	}
}

// TestADM16_UsersDisableEnableSignOut: users disable ends the user's sessions and
// revokes their refresh and access tokens; enable lets them sign in again but
// revives nothing; sign-out does what disable does and leaves the user enabled.
// Each writes an audit event by admin; nobody else's sessions are touched.
func TestADM16_UsersDisableEnableSignOut(t *testing.T) {
	ctx := context.Background()
	w := newCLIWorld(t)
	if out := w.run(t, "users", "disable", "ann@corp.example"); !strings.Contains(out, "Ended 2 session(s)") {
		t.Errorf("disable:\n%s", out)
	}
	if u, _ := w.db.Users().Get(ctx, "ann"); !u.Disabled {
		t.Error("ann not disabled")
	}
	for _, id := range []string{"s-ann-1", "s-ann-2"} {
		if s, rt := w.live(t, id); s || rt {
			t.Errorf("%s after disable: session %v, refresh token %v", id, s, rt)
		}
	}
	if !w.revokedAccess(t, "user:ann") {
		t.Error("ann's access tokens not revoked")
	}
	if d := w.audited(t, "user.disabled", "ann"); d["sessions_ended"] != 2.0 || d["refresh_tokens_revoked"] != 2.0 {
		t.Errorf("user.disabled details: %v", d)
	}

	w.run(t, "users", "enable", "ann")
	if u, _ := w.db.Users().Get(ctx, "ann"); u.Disabled {
		t.Error("ann still disabled")
	}
	if _, rt := w.live(t, "s-ann-1"); rt || !w.revokedAccess(t, "user:ann") {
		t.Error("enable revived ann's tokens")
	}
	w.audited(t, "user.enabled", "ann")

	w.run(t, "users", "sign-out", "bob")
	if s, rt := w.live(t, "s-bob"); s || rt || !w.revokedAccess(t, "user:bob") {
		t.Errorf("bob after sign-out: session %v, refresh token %v", s, rt)
	}
	if u, _ := w.db.Users().Get(ctx, "bob"); u.Disabled {
		t.Error("sign-out disabled bob")
	}
	w.audited(t, "user.signed_out", "bob")

	if _, err := runCommand(t, w.vars, "users", "disable", "nobody@corp.example"); err == nil {
		t.Error("disable of an unknown user succeeded")
	}
}

// TestADM16_ProvidersDisableRemoveCutOff: providers disable and remove end every
// session signed in with the provider and revoke what was issued under them
// (refresh tokens, and access tokens through their sessions' revocation
// entries); the users keep their accounts; each change is audited.
func TestADM16_ProvidersDisableRemoveCutOff(t *testing.T) {
	for _, sub := range []string{"disable", "remove"} {
		t.Run(sub, func(t *testing.T) {
			w := newCLIWorld(t)
			if out := w.run(t, "providers", sub, "corp"); !strings.Contains(out, "Ended 2 session(s)") {
				t.Errorf("%s:\n%s", sub, out)
			}
			for _, id := range []string{"s-ann-1", "s-ann-2"} {
				if s, rt := w.live(t, id); s || rt || !w.revokedAccess(t, "session:"+id) {
					t.Errorf("%s after %s: session %v, refresh token %v", id, sub, s, rt)
				}
			}
			if s, rt := w.live(t, "s-bob"); !s || !rt {
				t.Errorf("another provider's session was ended: session %v, refresh token %v", s, rt)
			}
			if u, err := w.db.Users().Get(context.Background(), "ann"); err != nil || u.Disabled {
				t.Errorf("ann's account: %v %+v", err, u)
			}
			action := map[string]string{"disable": "provider.disabled", "remove": "provider.removed"}[sub]
			if d := w.audited(t, action, "corp"); d["sessions_ended"] != 2.0 {
				t.Errorf("%s details: %v", action, d)
			}
		})
	}
}

// TestProviderDisabledByFileCutsOff: a provider a file disables — the providers
// file at start-up, or providers add-oidc --from-file — ends its sessions as
// providers disable does.
func TestProviderDisabledByFileCutsOff(t *testing.T) {
	spec := `{"id":"corp","kind":"oidc","name":"Corp","enabled":false,
		"oidc":{"issuer":"https://corp.example","client_id":"gatehouse"}}`
	t.Run("providers file", func(t *testing.T) {
		w := newCLIWorld(t)
		path := filepath.Join(t.TempDir(), "providers.json")
		w.must(t, os.WriteFile(path, []byte("["+spec+"]"), 0o600))
		mk, err := config.ParseKey(masterKeyA)
		w.must(t, err)
		ring, err := seal.NewKeyring(mk)
		w.must(t, err)
		err = loadProvidersFile(context.Background(), path, w.db, upstream.Env{Keyring: ring}, 10*time.Minute, slog.New(slog.DiscardHandler))
		w.must(t, err)
		if s, rt := w.live(t, "s-ann-1"); s || rt || !w.revokedAccess(t, "session:s-ann-1") {
			t.Errorf("after the file disabled corp: session %v, refresh token %v", s, rt)
		}
	})
	t.Run("add-oidc --from-file", func(t *testing.T) {
		w := newCLIWorld(t)
		path := filepath.Join(t.TempDir(), "corp.json")
		w.must(t, os.WriteFile(path, []byte(spec), 0o600))
		w.run(t, "providers", "add-oidc", "--from-file", path, "--skip-check")
		if s, rt := w.live(t, "s-ann-1"); s || rt {
			t.Errorf("after add-oidc disabled corp: session %v, refresh token %v", s, rt)
		}
		w.audited(t, "provider.disabled", "corp")
	})
}

// TestUsersJSONHasTheAdminAPIsFields: users show --json and users list --json
// print the same objects, field for field and nested, as the admin API's GET
// /api/admin/v1/users/{id} and GET /api/admin/v1/users for the same people
// (issue 13: "--json everywhere ... with the same field names as the admin
// API"); the one field more is each identity's claims, which the API does not
// show. The API is asked of a running gatehouse serve on the same database.
func TestUsersJSONHasTheAdminAPIsFields(t *testing.T) {
	w := newCLIWorld(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	w.must(t, err)
	addr := l.Addr().String()
	l.Close()
	issuer := "http://" + addr
	w.vars["GATEHOUSE_ISSUER"], w.vars["GATEHOUSE_LISTEN_ADDR"] = issuer, addr
	// Something in every list of the person: a role, an audit event, a consent.
	w.run(t, "users", "grant-role", "ann", "admin")
	now := time.Now()
	w.must(t, w.db.Consents().Put(context.Background(), store.Consent{UserID: "ann", ClientID: "web", Scopes: []string{"openid"},
		CreatedAt: now, LastUsedAt: now}))
	var c struct {
		Secret string `json:"client_secret"`
	}
	w.must(t, json.Unmarshal([]byte(w.run(t, "clients", "create", "--id", "provisioner", "--grant-type", "client_credentials",
		"--scope", "gatehouse:admin", "--default-api", issuer+"/api/admin/v1", "--json")), &c))
	g := start(t, w.vars, "serve")
	req, _ := http.NewRequest(http.MethodPost, g.url+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("provisioner", c.Secret)
	res, err := http.DefaultClient.Do(req)
	w.must(t, err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	w.must(t, json.NewDecoder(res.Body).Decode(&tok))
	res.Body.Close()
	if tok.AccessToken == "" {
		t.Fatalf("token: %d", res.StatusCode)
	}
	api := func(path string) any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, g.url+"/api/admin/v1"+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		res, err := http.DefaultClient.Do(req)
		w.must(t, err)
		defer res.Body.Close()
		var v any
		if err := json.NewDecoder(res.Body).Decode(&v); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v %v %s", path, res.StatusCode, err, v, res.Header.Get("WWW-Authenticate"))
		}
		return v
	}
	cli := func(args ...string) []any {
		t.Helper()
		var v []any
		if err := json.Unmarshal([]byte(w.run(t, args...)), &v); err != nil || len(v) != 1 {
			t.Fatalf("%q: %v %v", args, v, err)
		}
		return v
	}

	person, shown := api("/users/ann"), cli("users", "show", "ann@corp.example", "--json")[0]
	apiFields, cliFields := jsonFields(person, ""), jsonFields(shown, "")
	for _, want := range []string{"id", "email", "created_at", "identities[].provider_name", "identities[].linked_at",
		"roles[].source", "sessions[].last_seen_at", "consents[].client_id", "recent_events[].action"} {
		if !slices.Contains(apiFields, want) {
			t.Errorf("the API's person lacks %q, so the comparison below proves less: %q", want, apiFields)
		}
	}
	if want := slices.Sorted(slices.Values(append(slices.Clone(apiFields), "identities[].claims"))); !slices.Equal(cliFields, want) {
		t.Errorf("users show --json fields\n%q\nthe admin API's person (and identities[].claims)\n%q", cliFields, want)
	}
	if shown.(map[string]any)["id"] != "ann" || !reflect.DeepEqual(shown.(map[string]any)["roles"], person.(map[string]any)["roles"]) {
		t.Errorf("users show --json %v\nis not the API's person %v", shown, person)
	}

	listed := api("/users?q=ann").(map[string]any)["users"].([]any)
	if l := cli("users", "list", "--email", "ann@corp.example", "--json"); len(listed) != 1 || !reflect.DeepEqual(l[0], listed[0]) {
		t.Errorf("users list --json %v\nis not the API's list %v", l, listed)
	}
}

// jsonFields are the paths of every field of the JSON value v: "a", "a.b",
// "list[].c" (the fields of every element of a list).
func jsonFields(v any, prefix string) []string {
	set := map[string]bool{}
	var walk func(v any, prefix string)
	walk = func(v any, prefix string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k == "details" || k == "claims" {
					// Free-form JSON: its fields are data, not the schema's.
					set[prefix+k] = true
					continue
				}
				set[prefix+k] = true
				walk(x, prefix+k+".")
			}
		case []any:
			for _, x := range v {
				walk(x, strings.TrimSuffix(prefix, ".")+"[].")
			}
		}
	}
	walk(v, prefix)
	return slices.Sorted(maps.Keys(set))
}
