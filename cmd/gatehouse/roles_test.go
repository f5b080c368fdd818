package main

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
)

// TestAdminBootstrapAndRoles: admin bootstrap prints a one-time link while
// there is no admin; users grant-role makes one, after which bootstrap is
// refused with how to grant the role instead; the last admin cannot lose it.
func TestAdminBootstrapAndRoles(t *testing.T) {
	vars := baseVars(t)
	vars["GATEHOUSE_ISSUER"] = "https://id.example.test"
	if out, err := runCommand(t, vars, "migrate", "up"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	out, err := runCommand(t, vars, "admin", "bootstrap")
	if err != nil || !strings.Contains(out, "https://id.example.test/admin/bootstrap?token=") {
		t.Fatalf("bootstrap: %v\n%s", err, out)
	}
	db, err := sqlstore.Open(context.Background(), vars["GATEHOUSE_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{{ID: "u-ann", Email: "ann@corp.example"}, {ID: "u-bob", Email: "bob@corp.example"}} {
		if err := db.Users().Create(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if out, err := runCommand(t, vars, "users", "grant-role", "ann@corp.example", "admin"); err != nil || !strings.Contains(out, "Granted the role admin to user u-ann") {
		t.Fatalf("grant-role: %v\n%s", err, out)
	}
	if out, err := runCommand(t, vars, "admin", "bootstrap"); err == nil || !strings.Contains(err.Error(), "grant-role") {
		t.Fatalf("bootstrap with an admin: %v\n%s", err, out)
	}
	if out, err := runCommand(t, vars, "users", "revoke-role", "u-ann", "admin"); err == nil || !strings.Contains(err.Error(), "last admin") {
		t.Fatalf("revoke the last admin: %v\n%s", err, out)
	}
	if out, err := runCommand(t, vars, "users", "grant-role", "u-bob", "admin"); err != nil {
		t.Fatalf("grant-role bob: %v\n%s", err, out)
	}
	if out, err := runCommand(t, vars, "users", "revoke-role", "u-ann", "admin"); err != nil || !strings.Contains(out, "Revoked the role admin") {
		t.Fatalf("revoke-role: %v\n%s", err, out)
	}
}
