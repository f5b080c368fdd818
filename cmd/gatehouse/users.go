package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

const usersAbout = `Manages local accounts.

  list [--email EMAIL]  every user (or those with that email): ID, email, name, disabled, linked identities
  show EMAIL|ID         a user, their linked identities and the raw claims or attributes of each
                        identity's last sign-in: what role rules can match (--json: the admin API's
                        person, GET /api/admin/v1/users/{id}, each identity with its claims)
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
	asJSON := fs.Bool("json", false, "print the admin API's JSON (snake_case: list as GET /api/admin/v1/users, show as GET /api/admin/v1/users/{id})")
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
	if *asJSON {
		return showUsersJSON(ctx, env, ops, cfg.SessionIdleTimeout, us)
	}
	for _, ud := range us {
		u := ud.User
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "User\t%s\nEmail\t%s (verified: %v)\nName\t%s\nDisabled\t%v\n", u.ID, u.Email, u.EmailVerified, u.Name, u.Disabled)
		tw.Flush()
		for _, id := range ud.Identities {
			fmt.Fprintf(env.stdout, "\nIdentity %s / %s  (email %s, verified %v; linked %s; last sign-in %s)\nClaims of the last sign-in:\n",
				id.ProviderID, id.Subject, id.Email, id.EmailVerified, stamp(id.LinkedAt), stamp(id.LastLoginAt))
			var pretty any
			if json.Unmarshal(id.Claims, &pretty) == nil {
				b, _ := json.MarshalIndent(pretty, "  ", "  ")
				fmt.Fprintf(env.stdout, "  %s\n", b)
			}
		}
	}
	return nil
}

// personJSON is a user as users show --json prints them: the admin API's
// person (GET /api/admin/v1/users/{id}, admin.PersonView), with one field
// more on each identity, the claims or attributes of its last sign-in (what
// role rules can match), which the API does not show.
type personJSON struct {
	admin.PersonJSON
	Identities []identityJSON `json:"identities"`
}

type identityJSON struct {
	admin.IdentityJSON
	Claims json.RawMessage `json:"claims"`
}

func showUsersJSON(ctx context.Context, env *environment, ops *operations.Service, sessionIdle time.Duration, us []operations.UserDetail) error {
	out := make([]personJSON, 0, len(us))
	for _, ud := range us {
		_, p, err := admin.PersonView(ctx, ops, time.Now(), sessionIdle, ud.User.ID)
		if err != nil {
			return err
		}
		claims := map[[2]string]json.RawMessage{}
		for _, id := range ud.Identities {
			if json.Valid(id.Claims) {
				claims[[2]string{id.ProviderID, id.Subject}] = id.Claims
			}
		}
		pj := personJSON{PersonJSON: p, Identities: make([]identityJSON, 0, len(p.Identities))}
		for _, x := range p.Identities {
			c := claims[[2]string{x.Provider, x.Subject}]
			if len(c) == 0 {
				c = json.RawMessage("{}")
			}
			pj.Identities = append(pj.Identities, identityJSON{IdentityJSON: x, Claims: c})
		}
		out = append(out, pj)
	}
	return writeJSONTo(env.stdout, out)
}

func listUsers(ctx context.Context, env *environment, ops *operations.Service, email string, asJSON bool) error {
	us, err := ops.ListUsers(ctx, email)
	if err != nil {
		return err
	}
	if asJSON {
		// As the admin API lists people (GET /api/admin/v1/users).
		out := make([]admin.UserJSON, 0, len(us))
		for _, ud := range us {
			out = append(out, admin.UserView(ud.User))
		}
		return writeJSONTo(env.stdout, out)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tDISABLED\tIDENTITIES")
	for _, ud := range us {
		u := ud.User
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\n", u.ID, u.Email, u.Name, u.Disabled, len(ud.Identities))
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
