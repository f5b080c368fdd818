package main

import (
	"encoding/json"
	"strings"
	"testing"
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
