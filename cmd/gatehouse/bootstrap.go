package main

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

// cmdAdmin is `gatehouse admin bootstrap`: the first admin's one-time link.
func cmdAdmin(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "admin", "admin [flags] bootstrap",
		"bootstrap prints a one-time link, valid for 15 minutes, for a Gatehouse without\n"+
			"admins: whoever opens it and signs in (through any configured provider)\n"+
			"becomes the first admin, and the link is spent. Refused once an admin exists:\n"+
			"admins then grant the role with `gatehouse users grant-role USER admin`.")
	load := configFlags(fs, env)
	_, cfg, err := parseCommand(fs, load, args, func(a []string) bool { return len(a) == 1 && a[0] == "bootstrap" },
		"admin needs: bootstrap")
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	ring, err := seal.NewKeyring(cfg.MasterKeys...)
	if err != nil {
		return err
	}
	ops, closeOps := newOperations(cfg, db, upstream.Env{Keyring: ring}, nil, nil)
	defer closeOps()
	tok, exp, err := ops.NewBootstrapToken(ctx)
	if err != nil {
		return err
	}
	u := cfg.Issuer.JoinPath("/admin/bootstrap")
	u.RawQuery = "token=" + tok
	fmt.Fprintf(env.stdout, "Open this link and sign in to become Gatehouse's first admin (valid until %s, once):\n%s\n",
		exp.Format("2006-01-02 15:04 MST"), u)
	return nil
}
