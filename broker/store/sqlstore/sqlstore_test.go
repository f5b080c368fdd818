package sqlstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/pgtest"
	"github.com/gatehouse/gatehouse/broker/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// backends opens an empty, unmigrated database of each dialect.
var backends = []struct {
	name string
	url  func(testing.TB) string
}{
	{"sqlite", func(tb testing.TB) string { return "sqlite:" + filepath.Join(tb.TempDir(), "gatehouse.db") }},
	{"postgres", pgtest.URL},
}

func openDB(tb testing.TB, url string) *DB {
	tb.Helper()
	db, err := Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func openMigrated(tb testing.TB, url string) *DB {
	tb.Helper()
	db := openDB(tb, url)
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return db
}

func TestContract(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store { return openMigrated(t, b.url(t)) })
		})
	}
}

func TestMigrate(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := openDB(t, b.url(t))
			status, err := db.MigrationStatus(t.Context())
			if err != nil {
				t.Fatalf("MigrationStatus before Migrate: %v", err)
			}
			if len(status) == 0 || len(status) != len(db.migrations) {
				t.Fatalf("MigrationStatus lists %d migrations, want all %d", len(status), len(db.migrations))
			}
			for _, m := range status {
				if !m.AppliedAt.IsZero() {
					t.Errorf("migration %d applied before Migrate", m.Version)
				}
			}
			for range 2 { // the second run has nothing to do
				if err := db.Migrate(t.Context()); err != nil {
					t.Fatalf("Migrate: %v", err)
				}
			}
			status, err = db.MigrationStatus(t.Context())
			if err != nil {
				t.Fatalf("MigrationStatus: %v", err)
			}
			for i, m := range status {
				if m.Version != i+1 || m.Name != db.migrations[i].name || m.AppliedAt.IsZero() {
					t.Errorf("status[%d] = %+v, want version %d %q applied", i, m, i+1, db.migrations[i].name)
				}
			}
		})
	}
}

func TestMigrateFailureLeavesNothing(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := openDB(t, b.url(t))
			ms := []migration{
				{version: 1, name: "good", sql: `CREATE TABLE good (id INTEGER PRIMARY KEY)`},
				{version: 2, name: "broken", sql: `CREATE TABLE half (id INTEGER PRIMARY KEY); INSERT INTO good (id) VALUES (1); SELECT no_such_column FROM half`},
			}
			err := db.migrate(t.Context(), ms)
			if err == nil || !strings.Contains(err.Error(), "0002_broken") {
				t.Fatalf("migrate with a broken migration: %v, want an error naming it", err)
			}
			var n int
			if err := db.sql.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != 1 {
				t.Errorf("schema_migrations has %d rows (%v), want 1", n, err)
			}
			if err := db.sql.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM good`).Scan(&n); err != nil || n != 0 {
				t.Errorf("table good has %d rows (%v), want 0: the broken migration's insert stayed", n, err)
			}
			var one int
			err = db.sql.QueryRowContext(t.Context(), db.dialect.tableExists, "half").Scan(&one)
			if err == nil {
				t.Error("the broken migration's table exists")
			}
			// Fixed, it applies from where it stopped.
			ms[1].sql = `CREATE TABLE half (id INTEGER PRIMARY KEY)`
			if err := db.migrate(t.Context(), ms); err != nil {
				t.Fatalf("migrate: %v", err)
			}
		})
	}
}

func TestMigrationsMatch(t *testing.T) {
	lite, err := loadMigrations(sqliteDialect)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations(postgresDialect)
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) != len(pg) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].name != pg[i].name {
			t.Errorf("migration %d is %q on SQLite, %q on PostgreSQL", i+1, lite[i].name, pg[i].name)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"mysql://localhost/gatehouse", `"mysql"`},
		{"gatehouse.db", "no scheme"},
		{"sqlite:", "sqlite:PATH"},
		{"sqlite::memory:", "sqlite:PATH"},
		{"sqlite:" + filepath.Join(t.TempDir(), "x.db?mode=ro"), "must not contain"},
		{"sqlite:" + filepath.Join(t.TempDir(), "missing", "x.db"), "no such file"},
	} {
		db, err := Open(t.Context(), tc.url)
		if err == nil {
			_ = db.Close()
			t.Errorf("Open(%q) succeeded", tc.url)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q): %v, want an error containing %s", tc.url, err, tc.want)
		}
	}
}

func TestSQLiteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db := openMigrated(t, "sqlite:"+path)
	if err := db.Users().Create(t.Context(), store.User{ID: "u1"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), mode)
		}
	}
}

func TestDATA14_SQLiteFileReadableByOthersIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644) // past the umask
	db, err := Open(t.Context(), "sqlite:"+path)
	if err == nil {
		db.Close()
		t.Fatal("opened a database file readable by others")
	}
	if !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("error does not say how to fix it: %v", err)
	}
}

func TestSQLitePragmas(t *testing.T) {
	db := openDB(t, "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"))
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", "5000"},
	} {
		var got string
		if err := db.sql.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
}

func TestErrorsNameTheOperation(t *testing.T) {
	db := openMigrated(t, "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"))
	_, err := db.Codes().Redeem(t.Context(), []byte("nope"), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	if !errors.Is(err, store.ErrNotFound) || !strings.HasPrefix(err.Error(), "codes: redeem: ") {
		t.Errorf("Redeem: %v, want ErrNotFound prefixed with the operation", err)
	}
}
