package testsupport

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestLockedBufferConcurrentWrites: writes from many goroutines all arrive, whole,
// and reading while they write is safe (run with -race).
func TestLockedBufferConcurrentWrites(t *testing.T) {
	var b LockedBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				fmt.Fprintf(&b, "line %d-%d\n", i, j)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 400 {
		t.Fatalf("%d lines, want 400", n)
	}
	c := b.Bytes()
	c[0] = 'X'
	if b.String()[0] == 'X' {
		t.Fatal("Bytes shares the buffer's memory")
	}
}
