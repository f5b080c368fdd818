package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// exampleBlocks are the ```yaml and ```json blocks of PROVIDERS.md: each a
// whole providers file.
func exampleBlocks(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("PROVIDERS.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?ms)^```(?:yaml|json)\n(.*?)^```").FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// TestProvidersReferenceExamplesParse: every example in PROVIDERS.md is a
// providers file the real parser reads, and each entry passes every check a
// start with it would make (upstream.Prepare and the missing-secret rule),
// with a SAML metadata URL standing for the in-process IdP's metadata (the
// test has no internet). The worked examples cover the IdPs issue 13 names.
func TestProvidersReferenceExamplesParse(t *testing.T) {
	blocks := exampleBlocks(t)
	if len(blocks) < 6 {
		t.Fatalf("%d example blocks; want the six worked examples", len(blocks))
	}
	k, c := providertest.NewKeyPair("docs idp", time.Now())
	idp := providertest.NewSAMLIdP(time.Now, k, c, crewjam.Session{})
	t.Cleanup(idp.Close)
	metadata := strings.ReplaceAll(string(idp.Metadata()), "http://127.0.0.1", "https://idp.example")
	ctx := context.Background()
	vars := baseVars(t)
	db, err := openDatabase(ctx, &config.Config{DatabaseURL: vars["GATEHOUSE_DATABASE_URL"]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mk, _ := config.ParseKey(masterKeyA)
	ring, err := seal.NewKeyring(mk)
	if err != nil {
		t.Fatal(err)
	}
	issuer, _ := config.Load(config.Source{Environ: func(string) (string, bool) { return "", false }})
	uenv := upstream.Env{Issuer: issuer.Issuer, Keyring: ring}
	seen := map[string]bool{}
	for i, block := range blocks {
		specs, err := upstream.ParseSpecs([]byte(block))
		if err != nil {
			t.Errorf("example %d does not parse: %v\n%s", i+1, err, block)
			continue
		}
		for _, sp := range specs {
			seen[sp.ID] = true
			if sp.SAML != nil && sp.SAML.MetadataURL != "" {
				sp.SAML.MetadataURL, sp.SAML.MetadataXML = "", metadata
			}
			if problems := checkSpec(ctx, db, uenv, sp); len(problems) > 0 {
				t.Errorf("example %d, provider %s: %q", i+1, sp.ID, problems)
			}
		}
	}
	for _, id := range []string{"entra", "okta", "google", "keycloak", "adfs", "uni", "lab"} {
		if !seen[id] {
			t.Errorf("no worked example for %s", id)
		}
	}
}

// TestProvidersReferenceListsEveryField: every field of a providers-file
// entry is in PROVIDERS.md's reference, so a new setting cannot go
// undocumented.
func TestProvidersReferenceListsEveryField(t *testing.T) {
	b, err := os.ReadFile("PROVIDERS.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range upstream.SpecFieldPaths() {
		if !strings.Contains(string(b), "`"+path+"`") {
			t.Errorf("PROVIDERS.md does not describe `%s`", path)
		}
	}
}
