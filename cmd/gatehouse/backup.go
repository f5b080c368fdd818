package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
)

func cmdBackup(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "backup", "backup [flags] FILE",
		"Writes a consistent copy of the SQLite database to FILE while Gatehouse runs (SQLite's\n"+
			"VACUUM INTO). FILE must not exist; it is created readable by its owner only.\n"+
			"A PostgreSQL database is backed up with pg_dump or point-in-time recovery instead.\n"+
			"To restore, see \"Backups and restore\" in the README: stop Gatehouse, copy the file\n"+
			"back, run 'gatehouse watermark', start Gatehouse.")
	load := configFlags(fs, env)
	args, cfg, err := parseCommand(fs, load, args, func(a []string) bool { return len(a) == 1 && a[0] != "" },
		"backup needs exactly one argument: the FILE to write")
	if err != nil {
		return err
	}
	if err := sqlstore.Backup(ctx, cfg.DatabaseURL, args[0]); err != nil {
		if errors.Is(err, sqlstore.ErrBackupNotSQLite) {
			return errors.New("backup: GATEHOUSE_DATABASE_URL is a PostgreSQL database: back it up with pg_dump " +
				"(or base backups and WAL archiving for point-in-time recovery); see \"Backups and restore\" in the README")
		}
		return err
	}
	st, err := os.Stat(args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "Backed up the database to %s (%d bytes). After restoring it, run 'gatehouse watermark' before serving.\n",
		args[0], st.Size())
	return nil
}
