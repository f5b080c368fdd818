package testsupport

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
)

// OpenSQLite opens a migrated SQLite store in the test's temporary directory,
// closed when the test ends.
func OpenSQLite(tb testing.TB) *sqlstore.DB {
	tb.Helper()
	db, err := sqlstore.Open(tb.Context(), "sqlite:"+filepath.Join(tb.TempDir(), "gatehouse.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	return db
}
