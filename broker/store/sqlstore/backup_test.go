package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// count returns the rows of table.
func count(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.pool.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBackupConsistentUnderWrites: a backup taken while writers commit is a
// consistent snapshot (SQLite §VACUUM INTO): integrity_check passes, it holds
// every transaction committed before it started and none half-applied (each
// writer's transaction adds a user and its identity together), and it is
// private (mode 0600, so Gatehouse serves from it once copied back, DATA-14).
func TestBackupConsistentUnderWrites(t *testing.T) {
	ctx := t.Context()
	url := "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
	db := openMigrated(t, url)
	now := time.Now().UTC()
	if err := db.Providers().Create(ctx, store.ProviderConfig{ID: "corp", Kind: "oidc", Name: "Corp", Enabled: true,
		Settings: []byte(`{}`), CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}

	var (
		written  atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		writeErr = make(chan error, 2)
	)
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("u%d-%d", w, i)
				err := db.Identities().LinkNewUser(context.Background(), store.User{ID: id, Email: id + "@corp.example",
					CreatedAt: now, UpdatedAt: now}, store.Identity{ProviderID: "corp", Subject: id, LinkedAt: now})
				if err != nil {
					writeErr <- err
					return
				}
				written.Add(1)
			}
		})
	}
	for written.Load() < 50 {
		time.Sleep(5 * time.Millisecond)
	}
	before := count(t, db, "users")
	dest := filepath.Join(t.TempDir(), "backup.db")
	if err := Backup(ctx, url, dest); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	after := count(t, db, "users")
	for n := written.Load(); written.Load() < n+20; { // the writers carry on after it
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-writeErr:
		t.Fatalf("a write failed during the backup: %v", err)
	default:
	}

	st, err := os.Stat(dest)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v, want mode 0600", st, err)
	}
	if leftovers, _ := filepath.Glob(dest + ".partial-*"); len(leftovers) != 0 {
		t.Errorf("partial files left: %v", leftovers)
	}
	bk := openDB(t, "sqlite:"+dest)
	var check string
	if err := bk.pool.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	users, identities := count(t, bk, "users"), count(t, bk, "identities")
	if users != identities {
		t.Errorf("backup holds %d users but %d identities: a transaction was cut in half", users, identities)
	}
	if users < before || users > after {
		t.Errorf("backup holds %d users, want between %d (before it) and %d (after it)", users, before, after)
	}
	if final := count(t, db, "users"); users >= final {
		t.Errorf("backup holds %d users, the database %d after more writes: not a snapshot", users, final)
	}
	ms, err := bk.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.AppliedAt.IsZero() {
			t.Errorf("backup lacks migration %d", m.Version)
		}
	}
}

// TestBackupRefusals: an existing file is never overwritten, a missing database
// is not created and backed up, and PostgreSQL is pointed at its own tools.
func TestBackupRefusals(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	url := "sqlite:" + filepath.Join(dir, "gatehouse.db")
	openMigrated(t, url)

	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Backup(ctx, url, existing); !errors.Is(err, os.ErrExist) {
		t.Errorf("backup over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the existing file was changed: %q", b)
	}

	missing := filepath.Join(dir, "missing.db")
	dest := filepath.Join(dir, "b1.db")
	if err := Backup(ctx, "sqlite:"+missing, dest); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backup of a missing database: %v", err)
	}
	for _, p := range []string{missing, dest} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was created: %v", p, err)
		}
	}

	dest = filepath.Join(dir, "b2.db")
	if err := Backup(ctx, "postgres://gatehouse@db.invalid/gatehouse", dest); !errors.Is(err, ErrBackupNotSQLite) {
		t.Errorf("backup of PostgreSQL: %v", err)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was created: %v", dest, err)
	}
}
