package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

const usersAbout = `Manages local accounts.

  list [--email EMAIL]  every user (or those with that email): ID, email, name, disabled, linked identities
  show EMAIL|ID         a user, their linked identities and the raw claims or attributes of each
                        identity's last sign-in: what role rules can match
  disable EMAIL|ID      the user can no longer sign in; their sessions end and every refresh and access
                        token issued to them is revoked at once, on every replica
  enable EMAIL|ID       the user can sign in again; what disable ended stays ended
  sign-out EMAIL|ID     ends every session of the user and revokes their tokens; the user stays enabled
  grant-role EMAIL|ID ROLE   grants a role (e.g. admin) that holds whatever provider the user signs in with
  revoke-role EMAIL|ID ROLE  removes a granted role; the last admin cannot lose the admin role

Each change is written to the audit log (actor admin).

Examples:
  gatehouse users list --email ann@example.com
  gatehouse users show ann@example.com
  gatehouse users grant-role ann@example.com admin
  gatehouse users disable ann@example.com`

func cmdUsers(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "users", "users [flags] list|show|disable|enable|sign-out [EMAIL|ID] | grant-role|revoke-role EMAIL|ID ROLE", usersAbout)
	asJSON := fs.Bool("json", false, "print machine-readable JSON")
	email := fs.String("email", "", "list: only the users with this email")
	load := configFlags(fs, env)
	args, cfg, err := parseCommand(fs, load, args, func(a []string) bool {
		switch {
		case len(a) == 1:
			return a[0] == "list"
		case len(a) == 2:
			return a[0] == "show" || a[0] == "disable" || a[0] == "enable" || a[0] == "sign-out"
		case len(a) == 3:
			return a[0] == "grant-role" || a[0] == "revoke-role"
		}
		return false
	}, "users needs: list, show|disable|enable|sign-out EMAIL|ID, or grant-role|revoke-role EMAIL|ID ROLE")
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	ops, closeOps := newOperations(cfg, db, upstream.Env{}, nil, nil)
	defer closeOps()
	if args[0] == "list" {
		return listUsers(ctx, env, ops, *email, *asJSON)
	}
	us, err := ops.FindUsers(ctx, args[1])
	if err != nil {
		return reword(err, "user", args[1], false)
	}
	if args[0] != "show" {
		if len(us) > 1 {
			ids := make([]string, len(us))
			for i, u := range us {
				ids[i] = u.User.ID
			}
			return fmt.Errorf("%d users have the email %s; name one by ID: %s", len(us), args[1], strings.Join(ids, ", "))
		}
		if len(args) == 3 {
			return changeRole(ctx, env, ops, args[0], us[0].User, args[2])
		}
		return changeUser(ctx, env, ops, args[0], us[0].User)
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
	for _, ud := range us {
		u, ids := ud.User, ud.Identities
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

// userRow is one user of users list.
type userRow struct {
	ID         string `json:"id"`
	Email      string `json:"email"`
	Name       string `json:"name"`
	Disabled   bool   `json:"disabled"`
	Identities int    `json:"identities"`
}

func listUsers(ctx context.Context, env *environment, ops *operations.Service, email string, asJSON bool) error {
	us, err := ops.ListUsers(ctx, email)
	if err != nil {
		return err
	}
	rows := make([]userRow, 0, len(us))
	for _, ud := range us {
		u := ud.User
		rows = append(rows, userRow{ID: u.ID, Email: u.Email, Name: u.Name, Disabled: u.Disabled, Identities: len(ud.Identities)})
	}
	if asJSON {
		return writeJSONTo(env.stdout, rows)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tDISABLED\tIDENTITIES")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\n", r.ID, r.Email, r.Name, r.Disabled, r.Identities)
	}
	return tw.Flush()
}

// changeUser disables, enables or signs out u through the admin operations and
// reports what the cut-off ended.
func changeUser(ctx context.Context, env *environment, ops *operations.Service, sub string, u store.User) error {
	change := map[string]func(context.Context, operations.Actor, string) (operations.UserChange, error){
		"disable": ops.DisableUser, "enable": ops.EnableUser, "sign-out": ops.SignOutUser}[sub]
	ch, err := change(ctx, cliActor, u.ID)
	if err != nil {
		return err
	}
	switch sub {
	case "disable":
		fmt.Fprintf(env.stdout, "Disabled user %s (%s).\n", u.ID, u.Email)
	case "enable":
		fmt.Fprintf(env.stdout, "Enabled user %s (%s); the sessions and tokens ended before stay ended.\n", u.ID, u.Email)
		return nil
	}
	fmt.Fprintf(env.stdout, "Ended %d session(s); revoked %d refresh token(s) and every access token of user %s.\n",
		ch.CutOff.Sessions, ch.CutOff.RefreshTokens, u.ID)
	return nil
}

// changeRole grants or revokes a role (operations.GrantRole, RevokeRole).
func changeRole(ctx context.Context, env *environment, ops *operations.Service, sub string, u store.User, role string) error {
	if sub == "grant-role" {
		if err := ops.GrantRole(ctx, cliActor, u.ID, role); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "Granted the role %s to user %s (%s).\n", role, u.ID, u.Email)
		return nil
	}
	if err := ops.RevokeRole(ctx, cliActor, u.ID, role); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "Revoked the role %s from user %s (%s); their current sessions keep it until they sign in again.\n", role, u.ID, u.Email)
	return nil
}
