package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/providers/providertest"
)

// An IdP on the organisation's own network: an OIDC issuer on http://127.0.0.1
// is refused by default, with a message naming the setting that allows it, and
// accepted once GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS lists the address.
func TestADM07_AddOIDCOnLoopbackNeedsAllowedNetworks(t *testing.T) {
	iss := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse", ClientSecret: "s", Now: time.Now})
	t.Cleanup(iss.Close)
	vars := baseVars(t)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s"), 0o600)
	add := func() (string, error) {
		return runCommand(t, vars, "providers", "add-oidc", "--id", "corp", "--name", "Corp",
			"--oidc-issuer", iss.URL(), "--client-id", "gatehouse", "--client-secret-file", secret)
	}
	out, err := add()
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS") {
		t.Fatalf("http://127.0.0.1 issuer without the setting: %v\n%s", err, out)
	}
	if out, _ := runCommand(t, vars, "providers", "list"); strings.Contains(out, "corp") {
		t.Fatalf("refused provider stored:\n%s", out)
	}
	for _, list := range []string{"10.0.0.0/8", "127.0.0.2", "localhost"} {
		vars["GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS"] = list
		if out, err := add(); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS") {
			t.Errorf("listed %s, yet 127.0.0.1 accepted: %v\n%s", list, err, out)
		}
	}
	vars["GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS"] = "127.0.0.1"
	if out, err := add(); err != nil || !strings.Contains(out, "Added provider corp") {
		t.Fatalf("with the setting: %v\n%s", err, out)
	}
}
