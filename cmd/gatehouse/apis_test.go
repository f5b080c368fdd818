package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAPIsDelegationPolicy: apis create and update set an API's delegation policy
// (not allowed by default), apis show prints it (text and JSON), and a policy
// naming a scope the API does not have is refused and changes nothing.
func TestAPIsDelegationPolicy(t *testing.T) {
	vars := baseVars(t)
	if out, err := runCommand(t, vars, "migrate", "up"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	out, err := runCommand(t, vars, "apis", "create", "--id", "care", "--audience", "https://care.test", "--name", "Care Plans",
		"--scope", "plans.read", "--scope", "plans.write")
	if err != nil || !strings.Contains(out, "delegation: not allowed\n") {
		t.Fatalf("create: %v\n%s", err, out)
	}
	out, err = runCommand(t, vars, "apis", "update", "care", "--delegation", "--delegation-max-duration", "168h",
		"--delegable-scope", "plans.read", "--delegable-scope", "plans.write", "--redelegation")
	if err != nil || !strings.Contains(out, "delegation: allowed for at most 168h0m0s, scopes: plans.read plans.write, re-delegation: allowed\n") {
		t.Fatalf("update: %v\n%s", err, out)
	}
	out, err = runCommand(t, vars, "apis", "show", "care", "--json")
	if err != nil {
		t.Fatalf("show --json: %v\n%s", err, out)
	}
	var a struct {
		Delegation struct {
			Allowed      bool     `json:"allowed"`
			MaxDuration  string   `json:"max_duration"`
			Scopes       []string `json:"scopes"`
			Redelegation bool     `json:"redelegation"`
		} `json:"delegation"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil || !a.Delegation.Allowed || a.Delegation.MaxDuration != "168h0m0s" ||
		strings.Join(a.Delegation.Scopes, " ") != "plans.read plans.write" || !a.Delegation.Redelegation {
		t.Fatalf("show --json: %v %s", err, out)
	}
	for name, args := range map[string][]string{
		"not the API's scope": {"update", "care", "--delegable-scope", "admin"},
		"no maximum":          {"update", "care", "--delegation-max-duration", "0s"},
		"over a year":         {"update", "care", "--delegation-max-duration", "8761h"},
		"create without scopes": {"create", "--audience", "https://other.test", "--name", "Other", "--scope", "read",
			"--delegation", "--delegation-max-duration", "1h"},
	} {
		if out, err := runCommand(t, vars, append([]string{"apis"}, args...)...); err == nil {
			t.Errorf("%s: accepted\n%s", name, out)
		}
	}
	if out, _ := runCommand(t, vars, "apis", "show", "care"); !strings.Contains(out, "delegation: allowed for at most 168h0m0s, scopes: plans.read plans.write") {
		t.Errorf("a refused update changed the API:\n%s", out)
	}
	out, err = runCommand(t, vars, "apis", "update", "care", "--delegation=false")
	if err != nil || !strings.Contains(out, "delegation: not allowed\n") {
		t.Fatalf("update --delegation=false: %v\n%s", err, out)
	}
}
