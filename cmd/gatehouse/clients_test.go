package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/registry"
)

// TestClientsResourceServerFor: --resource-server-for takes registered APIs only,
// not for public clients, and clients show prints it (text and JSON).
func TestClientsResourceServerFor(t *testing.T) {
	vars := baseVars(t)
	if out, err := runCommand(t, vars, "migrate", "up"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	for _, aud := range []string{"https://api1.test", "https://api2.test"} {
		if out, err := runCommand(t, vars, "apis", "create", "--audience", aud, "--name", "API", "--scope", "read"); err != nil {
			t.Fatalf("apis create: %v\n%s", err, out)
		}
	}
	out, err := runCommand(t, vars, "clients", "create", "--id", "rs1", "--grant-type", "client_credentials",
		"--resource-server-for", "https://api1.test", "--resource-server-for", "https://api2.test", "--json")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	var c struct {
		ResourceServerFor []string `json:"resource_server_for"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || strings.Join(c.ResourceServerFor, " ") != "https://api1.test https://api2.test" {
		t.Fatalf("create --json: %v %s", err, out)
	}
	if out, err := runCommand(t, vars, "clients", "show", "rs1"); err != nil || !strings.Contains(out, "resource server for: https://api1.test https://api2.test\n") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if out, err := runCommand(t, vars, "clients", "update", "rs1", "--resource-server-for", "https://api2.test"); err != nil ||
		!strings.Contains(out, "resource server for: https://api2.test\n") {
		t.Fatalf("update: %v\n%s", err, out)
	}
	for name, args := range map[string][]string{
		"unregistered API": {"create", "--grant-type", "client_credentials", "--resource-server-for", "https://api3.test"},
		"public client": {"create", "--public", "--grant-type", "authorization_code", "--redirect-uri", "http://127.0.0.1/cb",
			"--resource-server-for", "https://api1.test"},
		"update to unregistered": {"update", "rs1", "--resource-server-for", "https://api1.test,https://api3.test"},
	} {
		if out, err := runCommand(t, vars, append([]string{"clients"}, args...)...); err == nil {
			t.Errorf("%s: accepted\n%s", name, out)
		}
	}
	if out, _ := runCommand(t, vars, "clients", "show", "rs1"); !strings.Contains(out, "resource server for: https://api2.test\n") {
		t.Errorf("a refused update changed the client:\n%s", out)
	}
}

// TestClientsExchange: --exchange-token-type takes the short names or the RFC 8693
// §3 URIs and stores the URIs; --exchange-provider takes configured providers;
// clients show prints both (text and JSON). The refusals of the exchange grant's
// rules (public clients never, AS-TX-09) come back readable and change nothing.
func TestClientsExchange(t *testing.T) {
	vars := baseVars(t)
	if out, err := runCommand(t, vars, "migrate", "up"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s3cret"), 0o600)
	if out, err := runCommand(t, vars, "providers", "add-oidc", "--id", "corp", "--name", "Corp",
		"--oidc-issuer", "https://id.corp.example", "--client-id", "gatehouse", "--client-secret-file", secret, "--skip-check"); err != nil {
		t.Fatalf("add-oidc: %v\n%s", err, out)
	}
	out, err := runCommand(t, vars, "clients", "create", "--id", "svc", "--grant-type", "client_credentials",
		"--grant-type", registry.GrantTokenExchange, "--exchange-token-type", "access_token",
		"--exchange-token-type", registry.TokenTypeIDToken, "--exchange-provider", "corp", "--json")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	var c struct {
		Types     []string `json:"exchange_token_types"`
		Providers []string `json:"exchange_providers"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil ||
		!slices.Equal(c.Types, []string{registry.TokenTypeAccessToken, registry.TokenTypeIDToken}) || !slices.Equal(c.Providers, []string{"corp"}) {
		t.Fatalf("create --json: %v %s", err, out)
	}
	const shown = "exchange token types: urn:ietf:params:oauth:token-type:access_token urn:ietf:params:oauth:token-type:id_token\n" +
		"exchange providers: corp\n"
	if out, err := runCommand(t, vars, "clients", "show", "svc"); err != nil || !strings.Contains(out, shown) {
		t.Fatalf("show: %v\n%s", err, out)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"public client": {[]string{"create", "--public", "--grant-type", registry.GrantTokenExchange,
			"--exchange-token-type", "access_token"}, "a public client cannot use token exchange"},
		"no token type": {[]string{"create", "--grant-type", registry.GrantTokenExchange},
			"token exchange needs at least one exchange subject token type"},
		"unknown token type": {[]string{"create", "--grant-type", registry.GrantTokenExchange, "--exchange-token-type", "jwt"},
			`exchange token type "jwt" is not one of`},
		"unknown provider": {[]string{"create", "--grant-type", registry.GrantTokenExchange, "--exchange-token-type", "saml2",
			"--exchange-provider", "nowhere"}, `exchange provider "nowhere": no provider has this ID`},
		"provider for access tokens": {[]string{"create", "--grant-type", registry.GrantTokenExchange,
			"--exchange-token-type", "access_token", "--exchange-provider", "corp"}, "exchange providers need the id_token or saml2"},
		"exchange fields without the grant": {[]string{"create", "--grant-type", "client_credentials", "--exchange-token-type", "id_token"},
			"need the " + registry.GrantTokenExchange + " grant"},
		"update dropping the grant": {[]string{"update", "svc", "--grant-type", "client_credentials"},
			"need the " + registry.GrantTokenExchange + " grant"},
	} {
		out, err := runCommand(t, vars, append([]string{"clients"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q\n%s", name, err, tc.want, out)
		}
	}
	if out, _ := runCommand(t, vars, "clients", "list"); strings.Count(out, "\n") != 2 {
		t.Errorf("a refused create stored a client:\n%s", out)
	}
	if out, _ := runCommand(t, vars, "clients", "show", "svc"); !strings.Contains(out, shown) {
		t.Errorf("a refused update changed the client:\n%s", out)
	}
	// Clearing both with the grant gone is a valid update.
	if out, err := runCommand(t, vars, "clients", "update", "svc", "--grant-type", "client_credentials",
		"--exchange-token-type", "", "--exchange-provider", ""); err != nil ||
		!strings.Contains(out, "exchange token types: \nexchange providers: \n") {
		t.Errorf("update clearing exchange: %v\n%s", err, out)
	}
}

// TestClientsRequireDPoP: --require-dpop sets dpop_bound_access_tokens (RFC 9449
// §5.2), which clients show prints (text and JSON); update can turn it off.
func TestClientsRequireDPoP(t *testing.T) {
	vars := baseVars(t)
	if out, err := runCommand(t, vars, "migrate", "up"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if out, err := runCommand(t, vars, "apis", "create", "--audience", "https://api1.test", "--name", "API", "--scope", "read"); err != nil {
		t.Fatalf("apis create: %v\n%s", err, out)
	}
	out, err := runCommand(t, vars, "clients", "create", "--id", "cli", "--grant-type", "client_credentials",
		"--default-api", "https://api1.test", "--require-dpop", "--json")
	var c struct {
		DPoP bool `json:"dpop_bound_access_tokens"`
	}
	if err != nil || json.Unmarshal([]byte(out), &c) != nil || !c.DPoP {
		t.Fatalf("create --require-dpop: %v\n%s", err, out)
	}
	if out, err := runCommand(t, vars, "clients", "show", "cli"); err != nil || !strings.Contains(out, "require DPoP: yes\n") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if out, err := runCommand(t, vars, "clients", "update", "cli", "--require-dpop=false"); err != nil {
		t.Fatalf("update: %v\n%s", err, out)
	}
	if out, err := runCommand(t, vars, "clients", "show", "cli"); err != nil || strings.Contains(out, "require DPoP") {
		t.Fatalf("show after update: %v\n%s", err, out)
	}
}
