// Package testsupport holds the helpers the tests of several packages share, so
// they are written once instead of copied into each package's tests.
package testsupport

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// RequireTools skips t unless every command named is installed, except under
// CI=true, where a missing one fails t: CI installs what the tests need (.ci/run),
// so a skip there would hide a test that never ran.
func RequireTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed (CI=true: .ci/run installs it)", n)
			}
			t.Skipf("%s is not installed", n)
		}
	}
}

// LockedBuffer is a bytes.Buffer safe for concurrent use: a logger or a command
// writes to it from its goroutines while the test reads what it wrote so far.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Bytes returns a copy of everything written so far.
func (l *LockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}
