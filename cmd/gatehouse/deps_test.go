package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

// moduleVersions asks the go command which version of each module the build uses
// (after minimal version selection, so an indirect downgrade would show).
func moduleVersions(t *testing.T, paths ...string) map[string]string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-m", "-json"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	got := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var m struct{ Path, Version string }
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		got[m.Path] = m.Version
	}
	return got
}

// TestDEP01_DEP03_DEP04_MinimumVersions holds the security-relevant dependencies at
// or above the versions that fix their published advisories.
func TestDEP01_DEP03_DEP04_MinimumVersions(t *testing.T) {
	minimum := map[string]string{
		"github.com/crewjam/saml":             "v0.6.3",  // DEP-01: ≥ v0.4.14 fixes five GHSAs; v0.6.3 checks a missing Issuer
		"github.com/russellhaering/goxmldsig": "v1.6.0",  // DEP-03: CVE-2026-33487, wrong Reference checked
		"github.com/coreos/go-oidc/v3":        "v3.15.0", // DEP-04: signature verified before claims are parsed
		"github.com/go-jose/go-jose/v4":       "v4.0.5",  // CVE-2025-27144, memory amplification in compact parsing
	}
	var paths []string
	for p := range minimum {
		paths = append(paths, p)
	}
	got := moduleVersions(t, paths...)
	for p, min := range minimum {
		if v := got[p]; v == "" || semver.Compare(v, min) < 0 {
			t.Errorf("%s is %q, below the required %s", p, v, min)
		}
	}
}

// TestDEP07_Toolchain: the standard library's HTTP/2, TLS, XML and template fixes
// come with the toolchain. go1.27.3 fixes every standard-library advisory known when
// it was chosen (GO-2026-6599 … GO-2026-6809); the Makefile and CI select it.
func TestDEP07_Toolchain(t *testing.T) {
	const want = "go1.27.3"
	if v := runtime.Version(); semver.Compare("v"+strings.TrimPrefix(v, "go"), "v"+strings.TrimPrefix(want, "go")) < 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("built with %s; the supported toolchain is %s (GOTOOLCHAIN=%s, as the Makefile sets)", v, want, want)
		}
		t.Skipf("built with %s, older than %s: run the tests with 'make test'", v, want)
	}
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mod), "\ntoolchain "+want+"\n") {
		t.Errorf("go.mod does not name toolchain %s", want)
	}
}

// TestDEP08_NoInsecureLibraryOptions fails on options that switch off a library's
// security checks anywhere in the tree outside tests and the test IdPs.
func TestDEP08_NoInsecureLibraryOptions(t *testing.T) {
	banned := regexp.MustCompile(`SkipClientIDCheck|SkipIssuerCheck|InsecureSkipSignatureCheck|SkipExpiryCheck|` +
		`InsecureIssuerURLContext|InsecureSkipVerify|AllowIDPInitiated\s*(:|=)\s*true|IgnoreCertificateExpiry\s*(:|=)\s*true`)
	// token.go: a token-exchange assertion has no AuthnRequest, so crewjam's
	// unsolicited mode is used on a per-call copy; InResponseTo is still refused.
	allow := map[string]bool{"providers/saml/token.go": true}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			// providertest holds the deliberately hostile test IdPs.
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata" || rel == "providers/providertest") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || allow[rel] {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := banned.Find(b); m != nil {
			t.Errorf("%s uses %s", rel, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
