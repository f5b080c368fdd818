package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrBackupNotSQLite is Backup's answer for a PostgreSQL database, which is backed
// up with its own tools (pg_dump, or base backups with WAL archiving for
// point-in-time recovery).
var ErrBackupNotSQLite = errors.New("sqlstore: backup: only an SQLite database is backed up by Gatehouse; " +
	"back up PostgreSQL with pg_dump (or base backups and WAL archiving for point-in-time recovery)")

// Backup writes a consistent copy of the SQLite database at databaseURL
// ("sqlite:PATH") to dest while other processes (a running server) read and write
// it. dest must not exist; it is created with mode 0600, since it holds what the
// database holds (DATA-14), and appears complete or not at all.
func Backup(ctx context.Context, databaseURL, dest string) (err error) {
	scheme, path, _ := strings.Cut(databaseURL, ":")
	if scheme != "sqlite" {
		return ErrBackupNotSQLite
	}
	// Open would create a missing database: a backup of nothing is a mistake.
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("sqlstore: backup: %w", err)
	}
	// Claim dest first, refusing to overwrite anything there; the copy is written
	// beside it and renamed over the (empty) claim once complete, so dest never
	// holds a half-written database.
	claim, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sqlstore: backup: %w", err)
	}
	_ = claim.Close() // empty; nothing to flush
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	partial := dest + ".partial-" + hex.EncodeToString(suffix[:])
	defer func() {
		if err != nil {
			_ = os.Remove(partial) // best effort: the error says what went wrong
			_ = os.Remove(dest)
		}
	}()
	// VACUUM INTO writes into an existing file only if it is empty; creating it
	// here gives it mode 0600 rather than the umask's.
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sqlstore: backup: %w", err)
	}
	_ = f.Close()

	db, err := Open(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("sqlstore: backup: %w", err)
	}
	defer db.Close()
	// SQLite §VACUUM INTO: the output is a transactionally consistent snapshot,
	// taken in one read transaction; in WAL mode writers carry on meanwhile.
	if _, err := db.pool.ExecContext(ctx, `VACUUM INTO ?`, partial); err != nil {
		return fmt.Errorf("sqlstore: backup: vacuum into %s: %w", partial, err)
	}
	// ...but SQLite does not fsync the output: make it durable before it
	// replaces the claim, and the rename durable in its directory.
	if err := syncFile(partial); err != nil {
		return fmt.Errorf("sqlstore: backup: %w", err)
	}
	if err := os.Rename(partial, dest); err != nil {
		return fmt.Errorf("sqlstore: backup: %w", err)
	}
	if err := syncFile(filepath.Dir(dest)); err != nil {
		return fmt.Errorf("sqlstore: backup: %w", err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
