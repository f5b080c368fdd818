package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

func cmdAPIs(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "apis", "apis [flags] create|list|show ID|update ID|delete ID",
		"Manages APIs (resource servers) tokens can be issued for. A --scope is\n"+
			"NAME[=DESCRIPTION][@ROLE+ROLE…]: the roles that entitle a user to it (none: anyone).\n"+
			"--delegation lets people give part of their access to the API to someone else,\n"+
			"for at most --delegation-max-duration, within the --delegable-scope list.\n"+
			"delete refuses an API a client still uses; --force unlinks it from them first.\n\n"+
			"Examples:\n"+
			"  gatehouse apis create --id notes --name Notes --audience https://api.notes.example.com \\\n"+
			"    --scope \"notes.read=Read your notes\" --scope \"notes.admin=Manage every note@admin\"\n"+
			"  gatehouse apis update notes --delegation --delegation-max-duration 168h --delegable-scope notes.read\n"+
			"  gatehouse apis delete notes --force")
	asJSON := fs.Bool("json", false, "print the admin API's JSON (snake_case, as GET /api/admin/v1/apis/{id})")
	id := fs.String("id", "", "API ID (create; default: generated)")
	audience := fs.String("audience", "", "audience URI, e.g. https://api.example.com (RFC 8707 resource)")
	name := fs.String("name", "", "display name")
	scopes := &listFlag{whole: true}
	fs.Var(scopes, "scope", "scope NAME[=DESCRIPTION][@ROLE+ROLE] (repeatable; quote descriptions with spaces)")
	delegation := fs.Bool("delegation", false, "allow delegating access to this API (--delegation=false: forbid)")
	delegationMax := fs.Duration("delegation-max-duration", 0, "the longest a delegation may run, e.g. 168h (at most 8760h)")
	delegable := &listFlag{}
	fs.Var(delegable, "delegable-scope", "a scope that may be delegated (repeatable)")
	redelegation := fs.Bool("redelegation", false, "let a delegation be given with permission to pass it on")
	force := fs.Bool("force", false, "delete: also unlink the API from the clients that use it (each is listed)")
	load := configFlags(fs, env)
	args, cfg, err := parseCommand(fs, load, args, someArgs, "apis needs a subcommand")
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
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	apply := func(a *store.API) {
		if set["delegation"] {
			a.Delegation.Allowed = *delegation
		}
		if set["delegation-max-duration"] {
			a.Delegation.MaxDuration = *delegationMax
		}
		if delegable.set {
			a.Delegation.Scopes = delegable.vals
		}
		if set["redelegation"] {
			a.Delegation.Redelegation = *redelegation
		}
		if *audience != "" {
			a.Audience = *audience
		}
		if *name != "" {
			a.Name = *name
		}
		if scopes.set {
			a.Scopes = nil
			for _, s := range scopes.vals {
				a.Scopes = append(a.Scopes, parseScopeFlag(s))
			}
		}
	}
	show := func(a store.API) error {
		if *asJSON {
			return writeJSON(env.stdout, admin.APIView(a))
		}
		fmt.Fprintf(env.stdout, "id: %s\naudience: %s\nname: %s\n", a.ID, a.Audience, a.Name)
		for _, s := range a.Scopes {
			roles := "any role"
			if len(s.Roles) > 0 {
				roles = "roles: " + strings.Join(s.Roles, ", ")
			}
			fmt.Fprintf(env.stdout, "scope %s: %s (%s)\n", s.Name, s.Description, roles)
		}
		d := a.Delegation
		if !d.Allowed {
			fmt.Fprintln(env.stdout, "delegation: not allowed")
			return nil
		}
		fmt.Fprintf(env.stdout, "delegation: allowed for at most %s, scopes: %s, re-delegation: %s\n",
			d.MaxDuration, strings.Join(d.Scopes, " "), map[bool]string{true: "allowed", false: "not allowed"}[d.Redelegation])
		return nil
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "create":
		a := store.API{ID: *id}
		apply(&a)
		a, err := ops.CreateAPI(ctx, cliActor, a)
		if err != nil {
			return reword(err, "API", a.ID, true)
		}
		return show(a)
	case "list":
		list, err := ops.ListAPIs(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			views := []admin.APIJSON{}
			for _, a := range list {
				views = append(views, admin.APIView(a))
			}
			return writeJSON(env.stdout, views)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tAUDIENCE\tNAME\tSCOPES")
		for _, a := range list {
			var names []string
			for _, s := range a.Scopes {
				names = append(names, s.Name)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.ID, a.Audience, a.Name, strings.Join(names, " "))
		}
		return tw.Flush()
	case "show", "update", "delete":
		if len(rest) != 1 {
			return fmt.Errorf("apis %s needs exactly one API ID", sub)
		}
		a, err := ops.GetAPI(ctx, rest[0])
		if err != nil {
			return reword(err, "API", rest[0], false)
		}
		if sub == "delete" {
			return deleteAPI(ctx, env, ops, a, *force)
		}
		if sub == "update" {
			apply(&a)
			if a, err = ops.UpdateAPI(ctx, cliActor, a); err != nil {
				return err
			}
		}
		return show(a)
	}
	fs.Usage()
	return fmt.Errorf("unknown apis subcommand %q", sub)
}

// deleteAPI deletes a, which clients may still name: as their default API,
// among their other APIs, or as the API they are the resource server of.
// operations.DeleteAPI refuses it then, naming them; with force it unlinks it
// from each first, and each is reported.
func deleteAPI(ctx context.Context, env *environment, ops *operations.Service, a store.API, force bool) error {
	uses, err := ops.DeleteAPI(ctx, cliActor, a.ID, force)
	if errors.Is(err, operations.ErrConflict) && len(uses) > 0 {
		ids := make([]string, len(uses))
		for i, u := range uses {
			ids[i] = u.ClientID
		}
		return fmt.Errorf("API %s is not deleted: the clients %s use it. Change them first ('gatehouse clients update'), "+
			"or add --force to unlink it from them", a.ID, strings.Join(ids, ", "))
	}
	if err != nil {
		return reword(err, "API", a.ID, false)
	}
	for _, u := range uses {
		fmt.Fprintf(env.stdout, "Unlinked %s from client %s (%s).\n", a.Audience, u.ClientID, strings.Join(u.Where, ", "))
	}
	fmt.Fprintf(env.stdout, "Deleted API %s (%s).\n", a.ID, a.Audience)
	return nil
}

// parseScopeFlag reads NAME[=DESCRIPTION][@ROLE+ROLE].
func parseScopeFlag(s string) store.Scope {
	var sc store.Scope
	s, roles, hasRoles := strings.Cut(s, "@")
	if hasRoles {
		sc.Roles = strings.Split(roles, "+")
	}
	sc.Name, sc.Description, _ = strings.Cut(s, "=")
	return sc
}
