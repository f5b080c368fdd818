package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

func cmdMigrate(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "migrate", "migrate [flags] up|status",
		"up applies every pending migration, each in its own transaction; status lists them.\nserve migrates by itself; use this to migrate before rolling out new replicas.")
	load := configFlags(fs, env)
	args, cfg, err := parseCommand(fs, load, args, func(a []string) bool { return len(a) == 1 && (a[0] == "up" || a[0] == "status") },
		"migrate needs exactly one of: up, status")
	if err != nil {
		return err
	}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if args[0] == "up" {
		if err := db.Migrate(ctx); err != nil {
			return err
		}
	}
	ms, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
	for _, m := range ms {
		applied := "pending"
		if !m.AppliedAt.IsZero() {
			applied = m.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, m.Name, applied)
	}
	return tw.Flush()
}

func cmdKeys(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "keys", "keys [flags] list|rotate|revoke KID",
		"list shows the token-signing keys and their states.\n"+
			"rotate creates a next key per algorithm (the server's and RS256, for ID tokens):\n"+
			"published in JWKS at once, a running server starts signing with it after\n"+
			"GATEHOUSE_KEY_PUBLISH_DELAY; the old key stays published until the tokens it\n"+
			"signed have expired.\n"+
			"revoke is for a compromised key: it leaves JWKS and every token it signed is\n"+
			"refused at once, on every replica; if it was signing, a new key signs from now\n"+
			"on, without the publish delay.")
	asJSON := fs.Bool("json", false, "print machine-readable JSON")
	load := configFlags(fs, env)
	args, cfg, err := parseCommand(fs, load, args, func(a []string) bool {
		return len(a) == 1 && (a[0] == "list" || a[0] == "rotate") || len(a) == 2 && a[0] == "revoke"
	}, "keys needs one of: list, rotate, revoke KID")
	if err != nil {
		return err
	}
	db, km, err := openKeys(ctx, cfg, newLogger(cfg, env.stderr))
	if err != nil {
		return err
	}
	defer db.Close()
	ops, closeOps := newOperations(cfg, db, upstream.Env{}, km, nil)
	defer closeOps()
	switch args[0] {
	case "rotate":
		ks, err := ops.RotateKeys(ctx, cliActor)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeKeysJSON(env.stdout, ks)
		}
		for _, k := range ks {
			fmt.Fprintf(env.stdout, "Created key %s (%s), published now; it signs once it has been published for %s.\n",
				k.ID, k.Algorithm, cfg.KeyPublishDelay)
		}
		return nil
	case "revoke":
		res, err := ops.RevokeKey(ctx, cliActor, args[1])
		if err != nil {
			return err
		}
		if *asJSON {
			ks := []store.SigningKey{res.Key}
			if res.Replacement != nil {
				ks = append(ks, *res.Replacement)
			}
			return writeKeysJSON(env.stdout, ks)
		}
		fmt.Fprintf(env.stdout, "Revoked key %s (%s, was %s): it has left JWKS, and every token it signed is refused from now on.\n",
			res.Key.ID, res.Key.Algorithm, res.Key.State)
		if r := res.Replacement; r != nil {
			fmt.Fprintf(env.stdout, "Key %s (%s) signs in its place from now on, without the %s publish delay: relying parties\n"+
				"that cached the JWKS fetch it again when they meet the new kid. Other replicas switch within %s.\n",
				r.ID, r.Algorithm, cfg.KeyPublishDelay, keys.DefaultRefreshInterval)
		}
		return nil
	}
	ks, err := ops.ListKeys(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeKeysJSON(env.stdout, ks)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED")
	for _, k := range ks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.State, stamp(k.CreatedAt), stamp(k.ActivatedAt), stamp(k.RetiredAt))
	}
	return tw.Flush()
}

// keyJSON is the public, machine-readable view of a signing key: never its private part.
type keyJSON struct {
	KID         string          `json:"kid"`
	Algorithm   string          `json:"alg"`
	State       string          `json:"state"`
	CreatedAt   time.Time       `json:"created_at"`
	ActivatedAt *time.Time      `json:"activated_at,omitempty"`
	RetiredAt   *time.Time      `json:"retired_at,omitempty"`
	PublicJWK   json.RawMessage `json:"public_jwk"`
}

func writeKeysJSON(w io.Writer, ks []store.SigningKey) error {
	out := make([]keyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyJSON{KID: k.ID, Algorithm: k.Algorithm, State: k.State, CreatedAt: k.CreatedAt.UTC(),
			ActivatedAt: optionalTime(k.ActivatedAt), RetiredAt: optionalTime(k.RetiredAt), PublicJWK: k.PublicJWK})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func cmdReseal(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "reseal", "reseal [flags]",
		"Master-key rotation: with the new key in GATEHOUSE_MASTER_KEY and the old one in\n"+
			"GATEHOUSE_PREVIOUS_MASTER_KEYS, re-encrypts every secret sealed with an old key\n"+
			"under the new one. Safe to run again after an interruption; once it reports\n"+
			"nothing left, remove the old key from GATEHOUSE_PREVIOUS_MASTER_KEYS.")
	load := configFlags(fs, env)
	_, cfg, err := parseCommand(fs, load, args, noArgs, "reseal takes no arguments")
	if err != nil {
		return err
	}
	db, km, err := openKeys(ctx, cfg, newLogger(cfg, env.stderr))
	if err != nil {
		return err
	}
	defer db.Close()
	ops, closeOps := newOperations(cfg, db, upstream.Env{}, km, nil)
	defer closeOps()
	n, err := ops.ResealKeys(ctx, cliActor)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "Resealed %d signing key(s) under the newest master key.\n", n)
	return nil
}

func cmdWatermark(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "watermark", "watermark [flags]",
		"Run after restoring the database from a backup, before serving: every refresh\n"+
			"token, access token and browser session issued before --before stops working,\n"+
			"so tokens revoked after the backup was taken do not come back to life. People\n"+
			"sign in again and applications get new tokens.")
	before := fs.String("before", "", "the watermark, RFC 3339 (default: now)")
	load := configFlags(fs, env)
	_, cfg, err := parseCommand(fs, load, args, noArgs, "watermark takes no arguments")
	if err != nil {
		return err
	}
	t := time.Now()
	if *before != "" {
		if t, err = time.Parse(time.RFC3339, *before); err != nil {
			return fmt.Errorf("--before: %q is not an RFC 3339 time like 2026-11-28T12:00:00Z", *before)
		}
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	ops, closeOps := newOperations(cfg, db, upstream.Env{}, nil, nil)
	defer closeOps()
	refresh, sessions, err := ops.Watermark(ctx, cliActor, t)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "Revoked everything issued before %s: %d refresh token(s), %d session(s), and every access token.\n",
		t.UTC().Format(time.RFC3339), refresh, sessions)
	return nil
}

func cmdVersion(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "version", "version", "Prints the version and the Go version it was built with.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, version())
	return nil
}

// version is the module version, or the VCS revision (with "+dirty" when the
// working tree had uncommitted changes) of a development build; never just
// "(devel)", which says nothing about what is running.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "gatehouse (unknown version)"
	}
	return describeBuild(bi)
}

func describeBuild(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	switch {
	case v != "" && v != "(devel)":
		// A module version (go install …@v1.2.3): it names the source exactly.
	case rev != "":
		v = rev
		if modified == "true" {
			v += "+dirty"
		}
	default:
		v = "development build (no module version or VCS revision recorded)"
	}
	return fmt.Sprintf("gatehouse %s (%s)", v, bi.GoVersion)
}
