package providers

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDEP08_NoInsecureLibraryOptions fails on insecure go-oidc / crewjam
// switches in non-test code under providers/.
func TestDEP08_NoInsecureLibraryOptions(t *testing.T) {
	banned := regexp.MustCompile(`SkipClientIDCheck|SkipIssuerCheck|InsecureSkipSignatureCheck|SkipExpiryCheck|InsecureIssuerURLContext|AllowIDPInitiated\s*(:|=)\s*true|IgnoreCertificateExpiry\s*(:|=)\s*true`)
	// token.go: a token-exchange assertion has no AuthnRequest, so crewjam's
	// unsolicited mode is used on a per-call copy; InResponseTo is still refused.
	allow := map[string]bool{"saml/token.go": true}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			strings.HasPrefix(path, "providertest") || allow[filepath.ToSlash(path)] {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := banned.Find(b); m != nil {
			t.Errorf("%s uses %s", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
