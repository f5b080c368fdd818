package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse/broker/store"
)

func cmdUsers(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "users", "users [flags] show EMAIL|ID",
		"show prints a user, their linked identities and the raw claims or attributes of each\nidentity's last sign-in: what role rules can match.")
	asJSON := fs.Bool("json", false, "print machine-readable JSON")
	load := configFlags(fs, env)
	args, cfg, err := parseCommand(fs, load, args, func(a []string) bool { return len(a) == 2 && a[0] == "show" },
		"users needs: show EMAIL|ID")
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	var us []store.User
	if strings.Contains(args[1], "@") {
		if us, err = db.Users().FindByEmail(ctx, args[1]); err != nil {
			return err
		}
	} else if u, err := db.Users().Get(ctx, args[1]); err == nil {
		us = []store.User{u}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if len(us) == 0 {
		return fmt.Errorf("no user %q", args[1])
	}
	type identityJSON struct {
		Provider      string          `json:"provider"`
		Subject       string          `json:"subject"`
		Email         string          `json:"email"`
		EmailVerified bool            `json:"email_verified"`
		LinkedAt      string          `json:"linked_at"`
		LastLoginAt   string          `json:"last_login_at"`
		Claims        json.RawMessage `json:"claims"`
	}
	type userJSON struct {
		ID            string         `json:"id"`
		Email         string         `json:"email"`
		EmailVerified bool           `json:"email_verified"`
		Name          string         `json:"name"`
		Disabled      bool           `json:"disabled"`
		Identities    []identityJSON `json:"identities"`
	}
	var out []userJSON
	for _, u := range us {
		ids, err := db.Identities().ListForUser(ctx, u.ID)
		if err != nil {
			return err
		}
		uj := userJSON{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Disabled: u.Disabled, Identities: []identityJSON{}}
		for _, id := range ids {
			claims := json.RawMessage(id.Claims)
			if len(claims) == 0 {
				claims = json.RawMessage("{}")
			}
			uj.Identities = append(uj.Identities, identityJSON{Provider: id.ProviderID, Subject: id.Subject, Email: id.Email,
				EmailVerified: id.EmailVerified, LinkedAt: stamp(id.LinkedAt), LastLoginAt: stamp(id.LastLoginAt), Claims: claims})
		}
		out = append(out, uj)
	}
	if *asJSON {
		return writeJSONTo(env.stdout, out)
	}
	for _, u := range out {
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "User\t%s\nEmail\t%s (verified: %v)\nName\t%s\nDisabled\t%v\n", u.ID, u.Email, u.EmailVerified, u.Name, u.Disabled)
		tw.Flush()
		for _, id := range u.Identities {
			fmt.Fprintf(env.stdout, "\nIdentity %s / %s  (email %s, verified %v; linked %s; last sign-in %s)\nClaims of the last sign-in:\n",
				id.Provider, id.Subject, id.Email, id.EmailVerified, id.LinkedAt, id.LastLoginAt)
			var pretty any
			if json.Unmarshal(id.Claims, &pretty) == nil {
				b, _ := json.MarshalIndent(pretty, "  ", "  ")
				fmt.Fprintf(env.stdout, "  %s\n", b)
			}
		}
	}
	return nil
}
