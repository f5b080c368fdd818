package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIProblemsStayEnglish: the command line prints the problems of a
// certificate subject (broker/mtls) and of provider settings that only the
// provider packages' checks refuse (a mapping without a subject, an HS256
// signing algorithm, an authorization parameter Gatehouse sets) in the
// English it always printed, word for word, whatever the console's languages.
func TestCLIProblemsStayEnglish(t *testing.T) {
	vars := baseVars(t)
	if out, err := runCommand(t, vars, "migrate", "up"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := func(name, oidc string) string {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, []byte(`{"id":"corp","kind":"oidc","name":"Corp","oidc":{"issuer":"https://id.corp.example","client_id":"gatehouse",`+oidc+`}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"certificate subject", []string{"clients", "create", "--id", "fleet", "--grant-type", "client_credentials",
			"--auth-method", "tls_client_auth", "--tls-client-auth-subject-dn", "CN=a<b%"},
			[]string{`subject DN "CN=a<b%": '<' must be escaped`}},
		{"mapping", []string{"providers", "add-oidc", "--from-file", spec("mapping", `"mapping":{"email":["mail"]}`),
			"--client-secret-file", secret, "--skip-check"},
			[]string{"oidc.mapping.subject is required: a mapping replaces the default one, so it must name the subject claim"}},
		{"oidc settings", []string{"providers", "add-oidc", "--from-file", spec("oidc", `"signing_algs":["HS%256"],"auth_params":{"state":"mine"}`),
			"--client-secret-file", secret, "--skip-check"},
			[]string{`oidc.signing_algs: signing algorithm "HS%256" not allowed (allowed: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA)`,
				`oidc.auth_params: the authorization parameter "state" is set by Gatehouse itself and cannot be given`}},
	} {
		out, err := runCommand(t, vars, tc.args...)
		if err == nil {
			t.Errorf("%s: accepted\n%s", tc.name, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the error\n%s\nlacks\n%s", tc.name, err, w)
			}
		}
	}
	if out, err := runCommand(t, vars, "providers", "show", "corp"); err == nil {
		t.Errorf("a refused provider was stored:\n%s", out)
	}
}
