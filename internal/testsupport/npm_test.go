package testsupport

import (
	"os"
	"path/filepath"
	"testing"
)

// TestNPMCIConcurrent: two test binaries installing the same pinned packages at
// once (go test runs packages in parallel) both end with the complete
// node_modules, and leave no scratch directory behind.
func TestNPMCIConcurrent(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "broker", "browsertest", "testdata", "axe-core", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("group", func(t *testing.T) {
		for _, name := range []string{"one", "two"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if got := NPMCI(t, dir, "axe-core"); got != dir {
					t.Errorf("NPMCI returned %s, want %s", got, dir)
				}
			})
		}
	})
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".npm-ci-*")); len(left) != 0 {
		t.Fatalf("scratch directories left: %v", left)
	}
}
