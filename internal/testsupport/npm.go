package testsupport

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NPMCI makes sure the pinned npm packages of dir (its package.json and
// package-lock.json) are installed, running npm ci when dir/node_modules lacks
// module, and returns dir as an absolute path. Without node and npm t skips,
// except under CI=true (RequireTools).
//
// Test binaries of several packages may ask for the same dir at once (go test
// runs packages in parallel), so npm ci runs in a scratch directory beside it
// whose node_modules is then renamed into place: a rename is atomic, and the
// loser of a race finds the winner's complete copy.
func NPMCI(t testing.TB, dir, module string) string {
	t.Helper()
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	RequireTools(t, "node", "npm")
	installed := func() bool {
		_, err := os.Stat(filepath.Join(dir, "node_modules", module, "package.json"))
		return err == nil
	}
	if installed() {
		return dir
	}
	scratch, err := os.MkdirTemp(dir, ".npm-ci-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(scratch)
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(scratch, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = scratch
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if err := os.Rename(filepath.Join(scratch, "node_modules"), filepath.Join(dir, "node_modules")); err != nil && !installed() {
		t.Fatalf("npm ci in %s: %v", dir, err)
	}
	return dir
}
