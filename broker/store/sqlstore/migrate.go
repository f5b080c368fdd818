package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// The schema of each dialect is an ordered list of files NNNN_name.sql; both
// directories hold the same names.
//
//go:embed migrations
var migrationFiles embed.FS

// Migration is one schema change and when it was applied (zero while pending).
type Migration struct {
	Version   int
	Name      string
	AppliedAt time.Time
}

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the dialect's migrations in version order.
func loadMigrations(d *dialect) ([]migration, error) {
	dir := path.Join("migrations", d.name)
	entries, err := fs.ReadDir(migrationFiles, dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), ".sql")
		num, name, ok2 := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || !ok2 || err != nil {
			return nil, fmt.Errorf("migrations: %s: want NNNN_name.sql", e.Name())
		}
		if version != len(ms)+1 {
			return nil, fmt.Errorf("migrations: %s: want version %d", e.Name(), len(ms)+1)
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		ms = append(ms, migration{version: version, name: name, sql: string(b)})
	}
	return ms, nil
}

// Migrate applies the pending migrations, each in its own transaction together with
// its schema_migrations row, so a failing migration leaves nothing behind. On
// PostgreSQL an advisory lock lets replicas that start together migrate once.
func (db *DB) Migrate(ctx context.Context) error {
	return db.migrate(ctx, db.migrations)
}

func (db *DB) migrate(ctx context.Context, ms []migration) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lock(ctx, tx, lockMigrate); err != nil {
			return err
		}
		// Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can fail on
		// PostgreSQL.
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	for _, m := range ms {
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			if err := db.lock(ctx, tx, lockMigrate); err != nil {
				return err
			}
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations WHERE version = $1`, m.version).Scan(&one)
			if err == nil {
				return nil // another replica applied it while we waited for the lock
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, time.Now().UTC().Format(time.RFC3339Nano))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlstore: migrate: %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

// MigrationStatus lists every migration this build knows, with when it was applied,
// followed by any applied migration it does not know (a newer build migrated).
func (db *DB) MigrationStatus(ctx context.Context) ([]Migration, error) {
	status := make([]Migration, 0, len(db.migrations))
	for _, m := range db.migrations {
		status = append(status, Migration{Version: m.version, Name: m.name})
	}
	var one int
	err := db.sql.QueryRowContext(ctx, db.dialect.tableExists, "schema_migrations").Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return status, nil // nothing applied yet
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migration status: %w", err)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migration status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m Migration
		var at string
		if err := rows.Scan(&m.Version, &m.Name, &at); err != nil {
			return nil, fmt.Errorf("sqlstore: migration status: %w", err)
		}
		if m.AppliedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("sqlstore: migration status: %w", err)
		}
		if m.Version >= 1 && m.Version <= len(status) {
			status[m.Version-1].AppliedAt = m.AppliedAt
		} else {
			status = append(status, m)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: migration status: %w", err)
	}
	return status, nil
}

// lock takes the dialect's transaction lock for key, if it has one.
func (db *DB) lock(ctx context.Context, tx *sql.Tx, key int64) error {
	if db.dialect.lock == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, db.dialect.lock, key)
	return err
}
