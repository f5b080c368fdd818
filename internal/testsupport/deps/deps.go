// Package deps builds, for a test, what a Gatehouse server or one of its
// capabilities is made of: validated configuration, a migrated database, the
// keyring, a signing key and the audit writer, with the log captured.
package deps

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// MasterKey is the fixed master key of test configurations.
const MasterKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// Deps are the dependencies New built; the test's cleanup closes them.
type Deps struct {
	Config *config.Config
	DB     *sqlstore.DB
	// DBPath is the SQLite file when New chose one, else "".
	DBPath string
	Ring   *seal.Keyring
	Keys   *keys.Manager
	Audit  *audit.Writer
	Log    *slog.Logger
	// Logs is everything Log wrote (JSON, debug level).
	Logs *testsupport.LockedBuffer
}

// New builds the dependencies for issuer with settings over the fixed master
// key. databaseURL "" means a fresh SQLite file; the database is migrated and
// holds an active signing key.
func New(t testing.TB, issuer string, settings map[string]string, databaseURL string, ao audit.Options) *Deps {
	t.Helper()
	ctx := context.Background()
	flags := map[string]string{"GATEHOUSE_ISSUER": issuer, "GATEHOUSE_MASTER_KEY": MasterKey}
	for k, v := range settings {
		flags[k] = v
	}
	cfg, err := config.Load(config.Source{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	d := &Deps{Config: cfg, Logs: &testsupport.LockedBuffer{}}
	if databaseURL == "" {
		d.DBPath = filepath.Join(t.TempDir(), "gatehouse.db")
		databaseURL = "sqlite:" + d.DBPath
	}
	if d.DB, err = sqlstore.Open(ctx, databaseURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.DB.Close() })
	if err := d.DB.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if d.Ring, err = seal.NewKeyring(cfg.MasterKeys...); err != nil {
		t.Fatal(err)
	}
	d.Log = slog.New(slog.NewJSONHandler(d.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if d.Keys, err = keys.NewManager(d.DB.SigningKeys(), d.Ring, keys.Options{Logger: d.Log}); err != nil {
		t.Fatal(err)
	}
	if err := d.Keys.EnsureKey(ctx); err != nil {
		t.Fatal(err)
	}
	d.Audit = audit.NewWriter(d.DB.Audit(), d.Log, ao)
	t.Cleanup(func() { d.Audit.Close(context.Background()) })
	return d
}
