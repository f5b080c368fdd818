package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/providers/providertest"
)

// TestProvidersCommands adds a SAML provider from uploaded metadata and a JSON
// file, shows its SP URLs, disables, enables, lists and removes it; secrets are
// never printed (ADM-12).
func TestProvidersCommands(t *testing.T) {
	vars := baseVars(t)
	k, c := providertest.NewKeyPair("cli idp", time.Now())
	idp := providertest.NewSAMLIdP(time.Now, k, c, crewjam.Session{})
	t.Cleanup(idp.Close)
	dir := t.TempDir()
	md := filepath.Join(dir, "idp.xml")
	// The CLI uses the production policy: https locations only.
	os.WriteFile(md, []byte(strings.ReplaceAll(string(idp.Metadata()), "http://127.0.0.1", "https://idp.example")), 0o600)
	spec := filepath.Join(dir, "p.json")
	os.WriteFile(spec, []byte(`{"id":"uni","kind":"saml","name":"University","domains":["Uni.example"],
		"saml":{"role_rules":[{"claim":"eduPersonAffiliation","value":"faculty","role":"teacher"}]}}`), 0o600)

	out, err := runCommand(t, vars, "providers", "add-saml", "--from-file", spec, "--metadata-file", md)
	if err != nil {
		t.Fatalf("add-saml: %v\n%s", err, out)
	}
	for _, want := range []string{"Added provider uni", "SP entity ID", "http://localhost:8080/saml/uni/metadata",
		"ACS URL", "http://localhost:8080/saml/uni/acs", "SLO URL", "uni.example"} {
		if !strings.Contains(out, want) {
			t.Errorf("add-saml output lacks %q:\n%s", want, out)
		}
	}
	out, err = runCommand(t, vars, "providers", "show", "uni", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got providerJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.ACSURL == "" || !got.SecretsSet {
		t.Fatalf("show --json: %v %+v", err, got)
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Error("show printed the SP private key")
	}
	if out, err = runCommand(t, vars, "providers", "disable", "uni"); err != nil || !strings.Contains(out, "false") {
		t.Errorf("disable: %v\n%s", err, out)
	}
	if _, err = runCommand(t, vars, "providers", "enable", "uni"); err != nil {
		t.Error(err)
	}
	if out, _ = runCommand(t, vars, "providers", "list"); !strings.Contains(out, "uni") || !strings.Contains(out, "true") {
		t.Errorf("list:\n%s", out)
	}
	if _, err = runCommand(t, vars, "providers", "add-oidc", "--id", "bad", "--name", "Bad", "--oidc-issuer", "http://op.example", "--client-id", "x"); err == nil {
		t.Error("an http issuer was accepted")
	}
	// The two SAML settings with flags of their own; an out-of-range validity
	// is refused by the provider's Validate.
	if out, err = runCommand(t, vars, "providers", "add-saml", "--id", "uni", "--name", "University", "--metadata-file", md,
		"--emails-verified", "--sp-metadata-validity", "2160h", "--json"); err != nil ||
		!strings.Contains(out, `"emails_verified": true`) || !strings.Contains(out, `"sp_metadata_validity": "2160h0m0s"`) {
		t.Errorf("add-saml with SAML settings: %v\n%s", err, out)
	}
	if out, err = runCommand(t, vars, "providers", "add-saml", "--id", "uni", "--name", "University", "--metadata-file", md,
		"--sp-metadata-validity", "1h"); err == nil {
		t.Errorf("an SP metadata validity of 1h was accepted:\n%s", out)
	}
	if _, err = runCommand(t, vars, "providers", "remove", "uni"); err != nil {
		t.Error(err)
	}
	if _, err = runCommand(t, vars, "providers", "show", "uni"); err == nil {
		t.Error("show after remove")
	}
}
