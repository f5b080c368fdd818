package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// migrated is baseVars with the database migrated.
func migrated(t *testing.T) map[string]string {
	t.Helper()
	vars := baseVars(t)
	if out, err := runCommand(t, vars, "migrate", "up"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	return vars
}

// TestClientsRefuseUnknownAPIOrScope: a client naming an API that is not
// registered, or a scope neither OpenID Connect's nor one of its APIs', is
// refused with the reason and nothing is stored.
func TestClientsRefuseUnknownAPIOrScope(t *testing.T) {
	vars := migrated(t)
	if out, err := runCommand(t, vars, "apis", "create", "--id", "notes", "--audience", "https://notes.test", "--name", "Notes",
		"--scope", "notes.read"); err != nil {
		t.Fatalf("apis create: %v\n%s", err, out)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"unknown default API": {[]string{"--default-api", "https://nope.test", "--scope", "openid"}, `"https://nope.test" is not a registered API`},
		"unknown other API":   {[]string{"--default-api", "https://notes.test", "--api", "https://nope.test"}, `"https://nope.test" is not a registered API`},
		"unknown scope":       {[]string{"--default-api", "https://notes.test", "--scope", "notes.write"}, `scope "notes.write" is neither an OpenID Connect scope`},
		"scope without API":   {[]string{"--scope", "notes.read"}, `scope "notes.read" is neither an OpenID Connect scope (openid, profile, email, offline_access) it has no API`},
	} {
		out, err := runCommand(t, vars, append([]string{"clients", "create", "--id", "app", "--grant-type", "client_credentials"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
	if out, _ := runCommand(t, vars, "clients", "list"); strings.Contains(out, "app") {
		t.Fatalf("a refused client was stored:\n%s", out)
	}
	if out, err := runCommand(t, vars, "clients", "create", "--id", "app", "--grant-type", "client_credentials",
		"--default-api", "https://notes.test", "--scope", "notes.read"); err != nil {
		t.Fatalf("a client naming what exists: %v\n%s", err, out)
	}
	if out, err := runCommand(t, vars, "clients", "update", "app", "--add-scope", "notes.delete"); err == nil ||
		!strings.Contains(err.Error(), `scope "notes.delete"`) {
		t.Errorf("update adding an unknown scope: %v\n%s", err, out)
	}
}

// TestClientsUpdateScopesSaysReplaceOrAdd: --scope replaces a client's
// scopes and says so; --add-scope and --remove-scope change some.
func TestClientsUpdateScopesSaysReplaceOrAdd(t *testing.T) {
	vars := migrated(t)
	if out, err := runCommand(t, vars, "clients", "create", "--id", "app", "--grant-type", "authorization_code",
		"--redirect-uri", "https://app.test/cb", "--scope", "openid", "--scope", "email"); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--scope", "profile"}, "Scopes replaced: profile (were: openid email).\n"},
		{[]string{"--add-scope", "openid", "--add-scope", "email"}, "Scopes now: profile openid email (added: openid email; removed: none).\n"},
		{[]string{"--remove-scope", "profile"}, "Scopes now: openid email (added: none; removed: profile).\n"},
	} {
		out, err := runCommand(t, vars, append([]string{"clients", "update", "app"}, tc.args...)...)
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("update %q: %v\n%s", tc.args, err, out)
		}
	}
}

// TestAPIsDeleteInUse: deleting an API a client uses is refused, naming the
// client; --force unlinks it from each client, saying so, then deletes.
func TestAPIsDeleteInUse(t *testing.T) {
	vars := migrated(t)
	runOK := func(args ...string) string {
		t.Helper()
		out, err := runCommand(t, vars, args...)
		if err != nil {
			t.Fatalf("%q: %v\n%s", args, err, out)
		}
		return out
	}
	runOK("apis", "create", "--id", "notes", "--audience", "https://notes.test", "--name", "Notes", "--scope", "notes.read")
	runOK("apis", "create", "--id", "files", "--audience", "https://files.test", "--name", "Files", "--scope", "files.read")
	runOK("clients", "create", "--id", "app", "--grant-type", "client_credentials", "--default-api", "https://files.test",
		"--api", "https://notes.test", "--scope", "notes.read")
	out, err := runCommand(t, vars, "apis", "delete", "notes")
	if err == nil || !strings.Contains(err.Error(), "API notes is not deleted: the clients app use it") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("delete in use: %v\n%s", err, out)
	}
	if out := runOK("apis", "list"); !strings.Contains(out, "notes") {
		t.Fatalf("a refused delete deleted:\n%s", out)
	}
	out = runOK("apis", "delete", "notes", "--force")
	if !strings.Contains(out, "Unlinked https://notes.test from client app (its APIs).\n") || !strings.Contains(out, "Deleted API notes") {
		t.Errorf("delete --force:\n%s", out)
	}
	var c struct {
		APIs []string `json:"apis"`
	}
	if err := json.Unmarshal([]byte(runOK("clients", "show", "app", "--json")), &c); err != nil || len(c.APIs) != 0 {
		t.Errorf("after --force the client still names the API: %v %+v", err, c)
	}
}

// TestNotFoundAndDuplicateSentences: every command says not-found and a
// duplicate ID in the same sentences.
func TestNotFoundAndDuplicateSentences(t *testing.T) {
	vars := migrated(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"clients", "show", "nope"}, `There is no client "nope" ('gatehouse clients list' shows them).`},
		{[]string{"clients", "delete", "nope"}, `There is no client "nope" ('gatehouse clients list' shows them).`},
		{[]string{"apis", "show", "nope"}, `There is no API "nope" ('gatehouse apis list' shows them).`},
		{[]string{"apis", "delete", "nope"}, `There is no API "nope" ('gatehouse apis list' shows them).`},
		{[]string{"providers", "show", "nope"}, `There is no provider "nope" ('gatehouse providers list' shows them).`},
		{[]string{"providers", "disable", "nope"}, `There is no provider "nope" ('gatehouse providers list' shows them).`},
		{[]string{"users", "show", "nope@example.com"}, `There is no user "nope@example.com" ('gatehouse users list' shows them).`},
		{[]string{"users", "disable", "nope@example.com"}, `There is no user "nope@example.com" ('gatehouse users list' shows them).`},
	} {
		if out, err := runCommand(t, vars, tc.args...); err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %q\n%s", tc.args, err, tc.want, out)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"clients", "create", "--id", "dup", "--grant-type", "client_credentials"},
			`A client "dup" exists already: choose another ID, or change it with 'gatehouse clients update dup'.`},
		{[]string{"apis", "create", "--id", "dup", "--audience", "https://dup.test", "--name", "Dup", "--scope", "read"},
			`An API "dup" exists already: choose another ID, or change it with 'gatehouse apis update dup'.`},
	} {
		if out, err := runCommand(t, vars, tc.args...); err != nil {
			t.Fatalf("first %q: %v\n%s", tc.args, err, out)
		}
		if out, err := runCommand(t, vars, tc.args...); err == nil || err.Error() != tc.want {
			t.Errorf("second %q: %v, want %q\n%s", tc.args, err, tc.want, out)
		}
	}
}

// TestJSONSpeaksTheAdminAPIsFields: --json prints the admin API's JSON, in
// snake_case: clients as ClientJSON, APIs as APIJSON; apis create says "any
// role" for a scope open to everyone.
func TestJSONSpeaksTheAdminAPIsFields(t *testing.T) {
	vars := migrated(t)
	out, err := runCommand(t, vars, "apis", "create", "--id", "notes", "--audience", "https://notes.test", "--name", "Notes",
		"--scope", "notes.read=Read notes", "--scope", "notes.admin@admin")
	if err != nil || !strings.Contains(out, "scope notes.read: Read notes (any role)\n") || !strings.Contains(out, "scope notes.admin:  (roles: admin)\n") {
		t.Errorf("apis create: %v\n%s", err, out)
	}
	keysOf := func(out string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		return m
	}
	out, _ = runCommand(t, vars, "apis", "show", "notes", "--json")
	a := keysOf(out)
	for _, k := range []string{"id", "audience", "name", "scopes", "delegation", "version", "created_at"} {
		if _, ok := a[k]; !ok {
			t.Errorf("apis show --json lacks %q: %s", k, out)
		}
	}
	out, _ = runCommand(t, vars, "clients", "create", "--id", "app", "--grant-type", "client_credentials", "--default-api", "https://notes.test", "--json")
	c := keysOf(out)
	for _, k := range []string{"id", "client_secret", "client_secret_set", "grant_types", "default_api", "token_endpoint_auth_method", "version"} {
		if _, ok := c[k]; !ok {
			t.Errorf("clients create --json lacks %q: %s", k, out)
		}
	}
	for k := range c {
		if strings.ToLower(k) != k || strings.Contains(k, "-") {
			t.Errorf("clients --json field %q is not snake_case", k)
		}
	}
}
