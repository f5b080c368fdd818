package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
)

type listedKey struct {
	KID       string `json:"kid"`
	Algorithm string `json:"alg"`
	State     string `json:"state"`
}

func listKeys(t *testing.T, vars map[string]string) []listedKey {
	t.Helper()
	out, err := runCommand(t, vars, "keys", "list", "--json")
	if err != nil {
		t.Fatal(err, out)
	}
	var ks []listedKey
	if err := json.Unmarshal([]byte(out), &ks); err != nil {
		t.Fatal(err, out)
	}
	return ks
}

func activeKID(ks []listedKey, alg string) string {
	for _, k := range ks {
		if k.State == "active" && k.Algorithm == alg {
			return k.KID
		}
	}
	return ""
}

// TestASJWT10_KeysRevokeCommand: `gatehouse keys revoke KID` removes a compromised
// key from the JWKS of a running server at once, a new key signs in its place without
// publish delay (the output says so), the revocation is audited, and a kid that is
// not there is an error that changes nothing.
func TestASJWT10_KeysRevokeCommand(t *testing.T) {
	vars := baseVars(t)
	g := start(t, vars, "serve")
	before := listKeys(t, vars)
	compromised := activeKID(before, "ES256")
	if compromised == "" || activeKID(before, "RS256") == "" {
		t.Fatalf("keys after first start: %+v", before)
	}

	out, err := runCommand(t, vars, "keys", "revoke", compromised)
	if err != nil {
		t.Fatal(err, out)
	}
	after := listKeys(t, vars)
	replacement := activeKID(after, "ES256")
	for _, want := range []string{"Revoked key " + compromised, "Key " + replacement + " (ES256) signs in its place from now on, without the"} {
		if !strings.Contains(out, want) {
			t.Errorf("keys revoke output lacks %q:\n%s", want, out)
		}
	}
	if replacement == "" || replacement == compromised || slices.ContainsFunc(after, func(k listedKey) bool { return k.KID == compromised }) {
		t.Fatalf("keys after revoke: %+v", after)
	}
	// The running server has not reread its keys, yet no longer publishes it.
	if _, jwks := get(t, g.url+"/oauth2/jwks"); slices.Contains(kids(t, jwks), compromised) || !slices.Contains(kids(t, jwks), replacement) {
		t.Errorf("JWKS of the running server after revoke: %s", jwks)
	}

	db, err := sqlstore.Open(context.Background(), vars["GATEHOUSE_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	evs, err := db.Audit().List(context.Background(), store.AuditFilter{Action: "key.revoked"})
	if err != nil || len(evs) != 1 || evs[0].Target != compromised || evs[0].Actor != "admin" {
		t.Fatalf("audit: %v %+v", err, evs)
	}

	if out, err := runCommand(t, vars, "keys", "revoke", "no-such-kid"); err == nil || !strings.Contains(err.Error(), "no signing key") {
		t.Errorf("revoking an unknown kid: %v %s", err, out)
	}
	if again := listKeys(t, vars); len(again) != len(after) {
		t.Errorf("a refused revoke changed the keys: %+v", again)
	}
}

// TestClientsIDTokenAlg: clients get RS256 ID tokens unless registered with
// --id-token-alg for another algorithm this server's keys can sign with.
func TestClientsIDTokenAlg(t *testing.T) {
	vars := baseVars(t)
	showAlg := func(id string) string {
		t.Helper()
		out, err := runCommand(t, vars, "clients", "show", id, "--json")
		if err != nil {
			t.Fatal(err, out)
		}
		var c struct {
			Alg string `json:"id_token_signed_response_alg"`
		}
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatal(err, out)
		}
		return c.Alg
	}
	create := []string{"clients", "create", "--grant-type", "authorization_code", "--redirect-uri", "https://app.example/cb", "--scope", "openid"}
	if out, err := runCommand(t, vars, append(create, "--id", "plain")...); err != nil {
		t.Fatal(err, out)
	}
	if alg := showAlg("plain"); alg != "RS256" {
		t.Errorf("default ID token alg %q, want RS256", alg)
	}
	if out, err := runCommand(t, vars, append(create, "--id", "ec", "--id-token-alg", "ES256")...); err != nil {
		t.Fatal(err, out)
	}
	if out, err := runCommand(t, vars, "clients", "show", "ec"); err != nil || !strings.Contains(out, "ID token alg: ES256") {
		t.Errorf("clients show: %v\n%s", err, out)
	}
	for _, bad := range []string{"none", "HS256", "EdDSA"} { // EdDSA: this server keeps ES256 and RS256 keys
		if out, err := runCommand(t, vars, "clients", "update", "ec", "--id-token-alg", bad); err == nil {
			t.Errorf("--id-token-alg %s accepted: %s", bad, out)
		}
	}
	if alg := showAlg("ec"); alg != "ES256" {
		t.Errorf("a refused update changed the alg to %q", alg)
	}
	if out, err := runCommand(t, vars, "clients", "update", "ec", "--id-token-alg", "RS256"); err != nil {
		t.Fatal(err, out)
	}
	if alg := showAlg("ec"); alg != "RS256" {
		t.Errorf("after update: %q", alg)
	}
}
