//go:build unix

package audit

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f for the life of the process, so that a
// second Gatehouse configured with the same spill file refuses to start instead of
// truncating events the first has not replayed.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errors.New(f.Name() + " is in use by another process: give each replica its own GATEHOUSE_AUDIT_SPILL_FILE")
	}
	return err
}
