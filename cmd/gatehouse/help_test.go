package main

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// TestProvidersAddHelpShowsOnlyItsOwnFlags: add-oidc --help and add-saml
// --help each show their examples, then their own flags — the SAML settings
// as flags under add-saml — and neither the other kind's flags nor the server
// settings.
func TestProvidersAddHelpShowsOnlyItsOwnFlags(t *testing.T) {
	vars := baseVars(t)
	for _, tc := range []struct {
		sub       string
		want, not []string
	}{
		{"add-oidc", []string{"-oidc-issuer", "-client-id", "-client-secret-file", "-skip-check", "-scopes", "-map-email", "-exchange-audience",
			"login.microsoftonline.com"},
			[]string{"-metadata-url", "-allow-idp-initiated", "-name-id-format", "-sign-requests", "-database-url", "-signing-alg"}},
		{"add-saml", []string{"-metadata-url", "-metadata-file", "-allow-idp-initiated", "-name-id-format", "-map-email", "-map-groups",
			"-emails-verified", "-sign-requests", "-require-encrypted-assertions", "FederationMetadata.xml"},
			[]string{"-oidc-issuer", "-client-id", "-client-secret-file", "-exchange-audience", "-database-url", "-signing-alg"}},
	} {
		t.Run(tc.sub, func(t *testing.T) {
			out, err := runCommand(t, vars, "providers", tc.sub, "--help")
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("--help: %v", err)
			}
			if ex, fl := strings.Index(out, "Examples:"), strings.Index(out, "Flags:"); ex < 0 || fl < ex {
				t.Errorf("examples do not come before the flags:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(n) + `\b`).MatchString(out) {
					t.Errorf("shows %q, not its flag:\n%s", n, out)
				}
			}
		})
	}
}

// TestHelpSettingsOnlyUnderServe: the server settings appear under serve
// --help and gatehouse help settings, not in every other command's help.
func TestHelpSettingsOnlyUnderServe(t *testing.T) {
	vars := baseVars(t)
	setting := regexp.MustCompile(`(?m)^\s+-session-max-age\b`)
	for _, args := range [][]string{{"clients", "--help"}, {"apis", "--help"}, {"users", "--help"}, {"keys", "--help"},
		{"providers", "--help"}, {"providers", "list", "--help"}, {"help", "clients"}} {
		out, _ := runCommand(t, vars, args...)
		if setting.MatchString(out) || !strings.Contains(out, "gatehouse help settings") {
			t.Errorf("%q lists the server settings or does not say where they are:\n%s", args, out)
		}
	}
	if out, _ := runCommand(t, vars, "serve", "--help"); !setting.MatchString(out) {
		t.Errorf("serve --help lacks the settings:\n%s", out)
	}
	out, err := runCommand(t, vars, "help", "settings")
	if err != nil || !strings.Contains(out, "GATEHOUSE_SESSION_MAX_AGE   --session-max-age   default: 12h") ||
		!strings.Contains(out, "GATEHOUSE_MASTER_KEY   (no flag: a secret)") {
		t.Errorf("help settings: %v\n%s", err, out)
	}
}

// TestProvidersAddOIDCChecksDiscovery: add-oidc fetches the issuer's
// discovery document through the outbound guard and refuses, saying why,
// an issuer whose document cannot be fetched; --skip-check adds it offline;
// show prints the issuer and client ID in text.
func TestProvidersAddOIDCChecksDiscovery(t *testing.T) {
	iss := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse", ClientSecret: "s", Now: time.Now})
	t.Cleanup(iss.Close)
	vars := baseVars(t)
	vars["GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS"] = "127.0.0.1"
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s"), 0o600)
	add := func(issuer string, extra ...string) (string, error) {
		return runCommand(t, vars, append([]string{"providers", "add-oidc", "--id", "corp", "--name", "Corp",
			"--oidc-issuer", issuer, "--client-id", "gatehouse", "--client-secret-file", secret}, extra...)...)
	}
	out, err := add(iss.URL() + "/wrong")
	if err == nil || !strings.Contains(err.Error(), "cannot be fetched: discovery: HTTP 404") || !strings.Contains(err.Error(), "--skip-check") {
		t.Fatalf("an issuer without discovery: %v\n%s", err, out)
	}
	if out, _ := runCommand(t, vars, "providers", "list"); strings.Contains(out, "corp") {
		t.Fatalf("the refused provider was stored:\n%s", out)
	}
	if out, err := add(iss.URL()+"/wrong", "--skip-check"); err != nil || !strings.Contains(out, "Added provider corp") {
		t.Fatalf("--skip-check: %v\n%s", err, out)
	}
	if out, err := add(iss.URL()); err != nil || !strings.Contains(out, "Updated provider corp") {
		t.Fatalf("a working issuer: %v\n%s", err, out)
	}
	out, err = runCommand(t, vars, "providers", "show", "corp")
	if err != nil || !regexp.MustCompile(`Issuer +`+regexp.QuoteMeta(iss.URL())+`\n`).MatchString(out) ||
		!regexp.MustCompile(`Client ID +gatehouse\n`).MatchString(out) || !regexp.MustCompile(`Redirect URI +http://localhost:8080/`).MatchString(out) {
		t.Errorf("show: %v\n%s", err, out)
	}
}

// TestProvidersAddSAMLSettingsFlags: IdP-initiated sign-in, the NameID format
// and the attribute mapping are flags of add-saml; a --map-* flag replaces
// its field's default and the other fields keep theirs. --json prints the
// admin API's fields.
func TestProvidersAddSAMLSettingsFlags(t *testing.T) {
	vars := baseVars(t)
	k, c := providertest.NewKeyPair("cli idp", time.Now())
	idp := providertest.NewSAMLIdP(time.Now, k, c, crewjam.Session{})
	t.Cleanup(idp.Close)
	md := filepath.Join(t.TempDir(), "idp.xml")
	os.WriteFile(md, []byte(strings.ReplaceAll(string(idp.Metadata()), "http://127.0.0.1", "https://idp.example")), 0o600)
	out, err := runCommand(t, vars, "providers", "add-saml", "--id", "adfs", "--name", "ADFS", "--metadata-file", md,
		"--allow-idp-initiated", "--name-id-format", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		"--map-email", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "--json")
	if err != nil {
		t.Fatalf("add-saml: %v\n%s", err, out)
	}
	var got admin.ProviderJSON
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &got); err != nil || got.SAML == nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	s := got.SAML
	if !s.AllowIDPInitiated || s.NameIDFormat != "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" ||
		strings.Join(s.Mapping.Email, " ") != "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn" ||
		strings.Join(s.Mapping.Subject, " ") != "saml:NameID" || len(s.Mapping.Groups) == 0 {
		t.Errorf("settings: %+v", s)
	}
	if out, _ := runCommand(t, vars, "providers", "show", "adfs"); !regexp.MustCompile(`IdP-initiated sign-in +on\n`).MatchString(out) {
		t.Errorf("show:\n%s", out)
	}
}
