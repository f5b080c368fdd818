package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/upstream"
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
	var got admin.ProviderJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.SAML == nil || got.SAML.SPACSURL == "" || got.SAML.SPCertificatePEM == "" {
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
	// AuthnRequest signing and required encryption (a file's sign_requests and
	// require_encrypted_assertions); --json, the admin API's view, always
	// shows sign_requests.
	if out, err = runCommand(t, vars, "providers", "add-saml", "--id", "uni", "--name", "University", "--metadata-file", md,
		"--sign-requests=false", "--require-encrypted-assertions", "--json"); err != nil ||
		!strings.Contains(out, `"sign_requests": false`) || !strings.Contains(out, `"require_encrypted_assertions": true`) {
		t.Errorf("add-saml --sign-requests=false --require-encrypted-assertions: %v\n%s", err, out)
	}
	if out, err = runCommand(t, vars, "providers", "add-saml", "--id", "uni", "--name", "University", "--metadata-file", md,
		"--sign-requests", "--json"); err != nil || !strings.Contains(out, `"sign_requests": true`) || strings.Contains(out, `"require_encrypted_assertions"`) {
		t.Errorf("add-saml --sign-requests: %v\n%s", err, out)
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

// TestProvidersExchangeSettings: the --exchange flags set a provider's token-exchange
// settings (SECURITY.md AS-TX-02), show prints them, an edit of them bumps the
// version, and the per-kind rules are refused with readable messages.
func TestProvidersExchangeSettings(t *testing.T) {
	vars := baseVars(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("s3cret"), 0o600)
	oidc := []string{"providers", "add-oidc", "--id", "corp", "--name", "Corp", "--oidc-issuer", "https://id.corp.example",
		"--client-id", "gatehouse", "--client-secret-file", secret, "--skip-check"}
	out, err := runCommand(t, vars, append(oidc, "--exchange", "--exchange-audience", "cli-app", "--exchange-audience", "gatehouse",
		"--exchange-one-time")...)
	if err != nil || !strings.Contains(out, "version 1") {
		t.Fatalf("add-oidc: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`Token exchange +on; audiences cli-app, gatehouse; one-time\n`).MatchString(out) {
		t.Errorf("add-oidc output lacks the exchange settings:\n%s", out)
	}
	out, err = runCommand(t, vars, append(oidc, "--exchange", "--exchange-audience", "cli-app", "--exchange-create-users", "--json")...)
	var got struct {
		Version  int64 `json:"version"`
		Settings struct {
			Exchange upstream.ExchangeSettings `json:"exchange"`
		} `json:"oidc"`
	}
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.Version != 2 ||
		!reflect.DeepEqual(got.Settings.Exchange, upstream.ExchangeSettings{Enabled: true, Audiences: []string{"cli-app"}, CreateUsers: true}) {
		t.Fatalf("changed exchange settings: %v %+v\n%s", err, got, out)
	}
	if out, err = runCommand(t, vars, append(oidc, "--exchange")...); err == nil ||
		!strings.Contains(err.Error(), "needs the ID-token audiences") {
		t.Errorf("OIDC exchange without audiences: %v\n%s", err, out)
	}
	if out, _ = runCommand(t, vars, "providers", "show", "corp"); !regexp.MustCompile(`Version +2\n`).MatchString(out) {
		t.Errorf("a refused change was stored:\n%s", out)
	}

	k, c := providertest.NewKeyPair("cli idp", time.Now())
	idp := providertest.NewSAMLIdP(time.Now, k, c, crewjam.Session{})
	t.Cleanup(idp.Close)
	md := filepath.Join(dir, "idp.xml")
	os.WriteFile(md, []byte(strings.ReplaceAll(string(idp.Metadata()), "http://127.0.0.1", "https://idp.example")), 0o600)
	saml := []string{"providers", "add-saml", "--id", "uni", "--name", "University", "--metadata-file", md}
	// add-saml has no --exchange-audience flag; a file giving audiences is refused.
	if out, err = runCommand(t, vars, append(saml, "--exchange", "--exchange-audience", "https://sp.example")...); err == nil ||
		!strings.Contains(err.Error(), "-exchange-audience") {
		t.Errorf("SAML exchange with audiences: %v\n%s", err, out)
	}
	withAuds := filepath.Join(dir, "uni.json")
	os.WriteFile(withAuds, []byte(`{"id":"uni","kind":"saml","name":"University","saml":{"exchange":{"enabled":true,"audiences":["https://sp.example"]}}}`), 0o600)
	if out, err = runCommand(t, vars, "providers", "add-saml", "--from-file", withAuds, "--metadata-file", md); err == nil ||
		!strings.Contains(err.Error(), "saml.exchange.audiences: a SAML assertion's audience is the SP entity ID") {
		t.Errorf("SAML exchange with audiences from a file: %v\n%s", err, out)
	}
	if out, err = runCommand(t, vars, saml...); err != nil || !regexp.MustCompile(`Token exchange +off\n`).MatchString(out) {
		t.Errorf("add-saml without exchange: %v\n%s", err, out)
	}
	if out, err = runCommand(t, vars, append(saml, "--exchange")...); err != nil || !regexp.MustCompile(`Token exchange +on\n`).MatchString(out) {
		t.Errorf("add-saml with exchange: %v\n%s", err, out)
	}
}
