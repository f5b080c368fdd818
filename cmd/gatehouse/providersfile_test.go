package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProvidersFileAllOrNothing: serve with a providers file one of whose
// entries is wrong changes nothing — not even the good entries — and refuses
// to start with one line per problem, naming the file, the entry and the field
// as written in the file, and where a misplaced field belongs.
func TestProvidersFileAllOrNothing(t *testing.T) {
	vars := baseVars(t)
	path := filepath.Join(t.TempDir(), "providers.yaml")
	vars["GATEHOUSE_PROVIDERS_FILE"] = path
	if err := os.WriteFile(path, []byte(`providers:
  - id: corp
    kind: oidc
    name: Corp
    client_secret: s3cret
    oidc:
      issuer: https://id.corp.example
      client_id: gatehouse
  - id: okta
    kind: oidc
    name: Okta
    client_id: gatehouse
    client_secret: s3cret
    oidc:
      issuer: https://example.okta.com
  - id: nosecret
    kind: oidc
    name: No secret
    oidc:
      issuer: https://id.nosecret.example
      client_id: gatehouse
  - id: typo
    kind: oidc
    name: Typo
    client_secret: s3cret
    oidc:
      issuer: https://id.typo.example
      clientid: gatehouse
      scopes: openid email
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCommand(t, vars, "serve")
	if err == nil {
		t.Fatalf("serve accepted a providers file with bad entries:\n%s", out)
	}
	for _, want := range []string{
		"GATEHOUSE_PROVIDERS_FILE " + path + ": nothing was changed",
		`provider "okta" (entry 2): unknown field "client_id" at the top level of the entry: it belongs at oidc.client_id`,
		`provider "nosecret" (entry 3): client_secret is missing`,
		`provider "typo" (entry 4): unknown field "oidc.clientid": did you mean oidc.client_id?`,
		`provider "typo" (entry 4): oidc.scopes: want a list of strings, got the string "openid email"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal lacks %q:\n%v", want, err)
		}
	}
	for _, goName := range []string{"ClientID", "Spec.", "Go struct"} {
		if strings.Contains(err.Error(), goName) {
			t.Errorf("the refusal names Go's %q:\n%v", goName, err)
		}
	}
	delete(vars, "GATEHOUSE_PROVIDERS_FILE")
	if out, err := runCommand(t, vars, "providers", "list"); err != nil || strings.Contains(out, "corp") {
		t.Errorf("the good entry was stored although the file was refused: %v\n%s", err, out)
	}
}

// TestProvidersFileMissingOIDCSecret: an enabled OIDC provider without a
// client secret cannot sign anyone in, so it is refused, in a file and on the
// command line; one the file disables needs none.
func TestProvidersFileMissingOIDCSecret(t *testing.T) {
	vars := baseVars(t)
	out, err := runCommand(t, vars, "providers", "add-oidc", "--id", "corp", "--name", "Corp",
		"--oidc-issuer", "https://id.corp.example", "--client-id", "gatehouse", "--skip-check")
	if err == nil || !strings.Contains(err.Error(), "client_secret is missing") {
		t.Errorf("add-oidc without a secret: %v\n%s", err, out)
	}
	if out, _ := runCommand(t, vars, "providers", "list"); strings.Contains(out, "corp") {
		t.Errorf("the refused provider was stored:\n%s", out)
	}
	path := filepath.Join(t.TempDir(), "corp.json")
	os.WriteFile(path, []byte(`{"id":"corp","kind":"oidc","name":"Corp","enabled":false,
		"oidc":{"issuer":"https://id.corp.example","client_id":"gatehouse"}}`), 0o600)
	if out, err := runCommand(t, vars, "providers", "add-oidc", "--from-file", path, "--skip-check"); err != nil {
		t.Errorf("a disabled provider without a secret: %v\n%s", err, out)
	}
}

// TestProvidersFileOneBadEntryChangesNothing: a file that parses but one of
// whose entries cannot be stored (no name; an exchange without audiences)
// stores none of its entries — today's serve created the good ones before
// refusing — and names each problem's entry and field.
func TestProvidersFileOneBadEntryChangesNothing(t *testing.T) {
	vars := baseVars(t)
	path := filepath.Join(t.TempDir(), "providers.json")
	vars["GATEHOUSE_PROVIDERS_FILE"] = path
	os.WriteFile(path, []byte(`[
	  {"id":"corp","kind":"oidc","name":"Corp","client_secret":"s",
	   "oidc":{"issuer":"https://id.corp.example","client_id":"gatehouse"}},
	  {"id":"noname","kind":"oidc","client_secret":"s",
	   "oidc":{"issuer":"https://id.noname.example","client_id":"gatehouse"}},
	  {"id":"xchg","kind":"oidc","name":"Exchange","client_secret":"s",
	   "oidc":{"issuer":"https://id.xchg.example","client_id":"gatehouse","exchange":{"enabled":true}}}
	]`), 0o600)
	_, err := runCommand(t, vars, "serve")
	if err == nil {
		t.Fatal("serve accepted a file with bad entries")
	}
	for _, want := range []string{
		`provider "noname" (entry 2): name is required`,
		`provider "xchg" (entry 3): oidc.exchange.audiences: an OIDC provider enabled for token exchange needs the ID-token audiences it accepts`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal lacks %q:\n%v", want, err)
		}
	}
	delete(vars, "GATEHOUSE_PROVIDERS_FILE")
	if out, err := runCommand(t, vars, "providers", "list"); err != nil || strings.Contains(out, "corp") {
		t.Errorf("the good entry was stored although the file was refused: %v\n%s", err, out)
	}
}
