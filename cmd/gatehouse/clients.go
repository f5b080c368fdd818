package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

// listFlag is a repeatable flag; each use may also hold a comma- or space-separated list.
type listFlag struct {
	vals []string
	set  bool
	// whole keeps each use as one value (values that may contain spaces).
	whole bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }
func (l *listFlag) Set(v string) error {
	if !l.set {
		l.vals, l.set = nil, true // the first use replaces the current value
	}
	if l.whole {
		l.vals = append(l.vals, v)
		return nil
	}
	l.vals = append(l.vals, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })...)
	return nil
}

// clientFlags are the settable fields of a client, shared by create and update.
type clientFlags struct {
	id, name, logo, defaultAPI, authMethod, jwksFile, jwksURI, idTokenAlg *string
	public, firstParty, dpop                                              *bool
	accessTTL, refreshTTL                                                 *time.Duration
	redirects, postLogout, grants, scopes, apis, rsFor                    *listFlag
	addScopes, removeScopes                                               *listFlag
	exchangeTypes, exchangeProviders                                      *listFlag
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	cf := &clientFlags{redirects: &listFlag{}, postLogout: &listFlag{}, grants: &listFlag{}, scopes: &listFlag{}, apis: &listFlag{},
		rsFor: &listFlag{}, exchangeTypes: &listFlag{}, exchangeProviders: &listFlag{}, addScopes: &listFlag{}, removeScopes: &listFlag{}}
	cf.id = fs.String("id", "", "client ID (create; default: generated)")
	cf.name = fs.String("name", "", "display name shown on consent pages")
	cf.logo = fs.String("logo-uri", "", "https URL of the client's logo")
	cf.defaultAPI = fs.String("default-api", "", "audience of the API tokens are for when no resource is given")
	cf.authMethod = fs.String("auth-method", "", "token endpoint auth method: client_secret_basic (default for confidential), client_secret_post, private_key_jwt, none (public)")
	cf.jwksFile = fs.String("jwks-file", "", "file with the client's public JWK Set (private_key_jwt)")
	cf.jwksURI = fs.String("jwks-uri", "", "https URL of the client's JWK Set (private_key_jwt)")
	cf.idTokenAlg = fs.String("id-token-alg", "", "ID token signing algorithm (id_token_signed_response_alg): RS256 (default), ES256 or EdDSA")
	cf.public = fs.Bool("public", false, "public client (native or browser app): no secret, PKCE only")
	cf.firstParty = fs.Bool("first-party", false, "first-party client: may skip the consent page")
	cf.dpop = fs.Bool("require-dpop", false, "every token request must carry a DPoP proof (RFC 9449 dpop_bound_access_tokens)")
	cf.accessTTL = fs.Duration("client-access-token-ttl", 0, "access-token lifetime, at most the server's (0: server default)")
	cf.refreshTTL = fs.Duration("client-refresh-token-ttl", 0, "refresh-token lifetime (0: server default)")
	fs.Var(cf.redirects, "redirect-uri", "redirect URI (repeatable; exact match; public clients: loopback IPs any port)")
	fs.Var(cf.postLogout, "post-logout-redirect-uri", "post-logout redirect URI (repeatable)")
	fs.Var(cf.grants, "grant-type", "authorization_code, refresh_token, client_credentials,\n"+
		registry.GrantTokenExchange+" (repeatable)")
	fs.Var(cf.scopes, "scope", "scope the client may ask for (repeatable): an OpenID Connect scope or a scope of\n"+
		"its APIs. On update it REPLACES the client's scopes; --add-scope and --remove-scope change some")
	fs.Var(cf.addScopes, "add-scope", "update: add a scope to those the client has (repeatable)")
	fs.Var(cf.removeScopes, "remove-scope", "update: remove a scope from those the client has (repeatable)")
	fs.Var(cf.apis, "api", "audience of another API the client may ask tokens for with resource= (repeatable)")
	fs.Var(cf.rsFor, "resource-server-for", "audience of an API this client is the resource server of: it may introspect\n"+
		"any token for that API (repeatable; a registered API; \"\" to clear). Other clients introspect only their own tokens")
	fs.Var(cf.exchangeTypes, "exchange-token-type", "subject token type the client may exchange (RFC 8693): access_token,\n"+
		"id_token, saml2 or the full URI (repeatable; needs the token-exchange grant; \"\" to clear)")
	fs.Var(cf.exchangeProviders, "exchange-provider", "ID of a provider whose ID tokens or assertions the client may exchange\n"+
		"(repeatable; needs the id_token or saml2 exchange token type; \"\" to clear)")
	return cf
}

// apply copies the flags the user set onto c.
func (cf *clientFlags) apply(fs *flag.FlagSet, c *store.Client) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			c.Name = *cf.name
		case "logo-uri":
			c.LogoURI = *cf.logo
		case "default-api":
			c.DefaultAudience = *cf.defaultAPI
		case "auth-method":
			c.TokenEndpointAuthMethod = *cf.authMethod
		case "jwks-uri":
			c.JWKSURI = *cf.jwksURI
		case "id-token-alg":
			c.IDTokenSignedResponseAlg = *cf.idTokenAlg
		case "jwks-file":
			if c.JWKS, err = os.ReadFile(*cf.jwksFile); err != nil {
				err = fmt.Errorf("--jwks-file: %w", err)
			}
		case "public":
			c.Public = *cf.public
		case "first-party":
			c.FirstParty = *cf.firstParty
		case "require-dpop":
			c.DPoPBoundAccessTokens = *cf.dpop
		case "client-access-token-ttl":
			c.AccessTokenTTL = *cf.accessTTL
		case "client-refresh-token-ttl":
			c.RefreshTokenTTL = *cf.refreshTTL
		case "redirect-uri":
			c.RedirectURIs = cf.redirects.vals
		case "post-logout-redirect-uri":
			c.PostLogoutRedirectURIs = cf.postLogout.vals
		case "grant-type":
			c.GrantTypes = cf.grants.vals
		case "scope":
			c.Scopes = cf.scopes.vals
		case "api":
			c.Audiences = cf.apis.vals
		case "resource-server-for":
			c.ResourceServerFor = cf.rsFor.vals
		case "exchange-token-type":
			c.ExchangeTokenTypes = nil
			for _, v := range cf.exchangeTypes.vals {
				c.ExchangeTokenTypes = append(c.ExchangeTokenTypes, exchangeTokenType(v))
			}
		case "exchange-provider":
			c.ExchangeProviders = cf.exchangeProviders.vals
		}
	})
	for _, sc := range cf.addScopes.vals {
		if !slices.Contains(c.Scopes, sc) {
			c.Scopes = append(c.Scopes, sc)
		}
	}
	c.Scopes = slices.DeleteFunc(c.Scopes, func(sc string) bool { return slices.Contains(cf.removeScopes.vals, sc) })
	return err
}

// scopeChange says what an update did to the client's scopes, since --scope
// replaces them and --add-scope/--remove-scope change some; "" if nothing.
func (cf *clientFlags) scopeChange(old, cur []string) string {
	if slices.Equal(old, cur) {
		return ""
	}
	show := func(s []string) string {
		if len(s) == 0 {
			return "none"
		}
		return strings.Join(s, " ")
	}
	if cf.scopes.set {
		return fmt.Sprintf("Scopes replaced: %s (were: %s).", show(cur), show(old))
	}
	return fmt.Sprintf("Scopes now: %s (added: %s; removed: %s).", show(cur), show(cf.addScopes.vals), show(cf.removeScopes.vals))
}

// refProblems are the APIs and scopes c names that are not registered, which
// would make every token request for them fail: its default API and other
// APIs must be registered APIs, and each scope an OpenID Connect scope (OIDC
// Core §5.4, offline_access §11) or a scope of one of its APIs. check says
// which of the fields to check (create: all; update: those given).
func refProblems(ctx context.Context, ops *operations.Service, issuer string, c store.Client, check func(field string) bool) ([]string, error) {
	apis, err := ops.ListAPIs(ctx)
	if err != nil {
		return nil, err
	}
	byAud := map[string]store.API{}
	for _, a := range apis {
		byAud[a.Audience] = a
	}
	// The built-in Admin API is registered when the server first starts; a
	// client for it may be created before that.
	adminAud := strings.TrimSuffix(issuer, "/") + "/api/admin/v1"
	if _, ok := byAud[adminAud]; !ok {
		byAud[adminAud] = store.API{Audience: adminAud, Scopes: []store.Scope{{Name: admin.Scope}}}
	}
	var problems []string
	known := slices.Clone(token.IdentityScopes)
	var names []string
	for _, aud := range append([]string{c.DefaultAudience}, c.Audiences...) {
		if aud == "" {
			continue
		}
		a, ok := byAud[aud]
		if !ok {
			if check("default-api") || check("api") {
				problems = append(problems, fmt.Sprintf("%q is not a registered API: register it first ('gatehouse apis create --audience %s …'; 'gatehouse apis list' shows those registered)", aud, aud))
			}
			continue
		}
		names = append(names, aud)
		for _, sc := range a.Scopes {
			known = append(known, sc.Name)
		}
	}
	if check("scope") {
		for _, sc := range c.Scopes {
			if !slices.Contains(known, sc) {
				where := "it has no API"
				if len(names) > 0 {
					where = "nor of its APIs (" + strings.Join(names, ", ") + ")"
				}
				problems = append(problems, fmt.Sprintf("scope %q is neither an OpenID Connect scope (%s) %s", sc, strings.Join(token.IdentityScopes, ", "), where))
			}
		}
	}
	return problems, nil
}

// exchangeTokenType is the RFC 8693 §3 URI of a short token type name; anything
// else is kept as given, for validation to accept as a URI or refuse.
func exchangeTokenType(v string) string {
	for _, uri := range registry.ExchangeTokenTypes {
		if v == strings.TrimPrefix(uri, "urn:ietf:params:oauth:token-type:") {
			return uri
		}
	}
	return v
}

func cmdClients(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "clients", "clients [flags] create|list|show ID|update ID|delete ID|rotate-secret ID",
		"Manages OAuth clients. create prints the client ID and, for confidential clients,\n"+
			"the generated secret: it is shown this once and stored only as a hash.\n"+
			"rotate-secret replaces the secret (the old one stops working at once).\n"+
			"Running servers see changes within a few seconds.\n\n"+
			"Examples:\n"+
			"  gatehouse clients create --id notes-web --name \"Notes\" --grant-type authorization_code \\\n"+
			"    --grant-type refresh_token --redirect-uri https://notes.example.com/cb \\\n"+
			"    --default-api https://api.notes.example.com --scope openid --scope notes.read\n"+
			"  gatehouse clients create --id reporter --grant-type client_credentials \\\n"+
			"    --default-api https://api.notes.example.com --scope notes.read --json\n"+
			"  gatehouse clients update notes-web --add-scope notes.write\n"+
			"  gatehouse clients rotate-secret reporter")
	asJSON := fs.Bool("json", false, "print the admin API's JSON (snake_case, as GET /api/admin/v1/clients/{id})")
	cf := addClientFlags(fs)
	load := configFlags(fs, env)
	args, cfg, err := parseCommand(fs, load, args, someArgs, "clients needs a subcommand")
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
	checkRefs := func(c store.Client, check func(field string) bool) error {
		problems, err := refProblems(ctx, ops, cfg.Issuer.String(), c, check)
		if err != nil || len(problems) == 0 {
			return err
		}
		return fmt.Errorf("client %s not saved:\n  %s", c.ID, strings.Join(problems, "\n  "))
	}
	sub, rest := args[0], args[1:]
	needID := func() (string, error) {
		if len(rest) != 1 {
			return "", fmt.Errorf("clients %s needs exactly one client ID", sub)
		}
		return rest[0], nil
	}
	switch sub {
	case "create":
		c := store.Client{ID: *cf.id}
		if err := cf.apply(fs, &c); err != nil {
			return err
		}
		if err := checkRefs(c, func(string) bool { return true }); err != nil {
			return err
		}
		res, err := ops.CreateClient(ctx, cliActor, c)
		if err != nil {
			return reword(err, "client", c.ID, true)
		}
		return printClientWithSecret(env.stdout, *asJSON, res.Client, res.Secret)
	case "list":
		list, err := ops.ListClients(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]admin.ClientJSON, 0, len(list))
			for _, c := range list {
				out = append(out, admin.ClientView(c))
			}
			return writeJSON(env.stdout, out)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tTYPE\tGRANTS\tDEFAULT API")
		for _, c := range list {
			typ := "confidential"
			if c.Public {
				typ = "public"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, typ, strings.Join(c.GrantTypes, ","), c.DefaultAudience)
		}
		return tw.Flush()
	case "show", "update", "delete", "rotate-secret":
		id, err := needID()
		if err != nil {
			return err
		}
		var res operations.ClientWithSecret
		switch sub {
		case "delete":
			if err := ops.DeleteClient(ctx, cliActor, id); err != nil {
				return reword(err, "client", id, false)
			}
			fmt.Fprintf(env.stderr, "Deleted client %s.\n", id)
			return nil
		case "show":
			res.Client, err = ops.GetClient(ctx, id)
		case "update":
			if res.Client, err = ops.GetClient(ctx, id); err != nil {
				return reword(err, "client", id, false)
			}
			old := slices.Clone(res.Client.Scopes)
			if err := cf.apply(fs, &res.Client); err != nil {
				return err
			}
			given := map[string]bool{}
			fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
			given["scope"] = given["scope"] || given["add-scope"]
			if err := checkRefs(res.Client, func(f string) bool { return given[f] }); err != nil {
				return err
			}
			if res.Client, err = ops.UpdateClient(ctx, cliActor, res.Client); err == nil && !*asJSON {
				if msg := cf.scopeChange(old, res.Client.Scopes); msg != "" {
					fmt.Fprintln(env.stdout, msg)
				}
			}
		case "rotate-secret":
			res, err = ops.RotateClientSecret(ctx, cliActor, id)
		}
		if err != nil {
			return reword(err, "client", id, false)
		}
		return printClientWithSecret(env.stdout, *asJSON, res.Client, res.Secret)
	}
	fs.Usage()
	return fmt.Errorf("unknown clients subcommand %q", sub)
}

func printClientWithSecret(w io.Writer, asJSON bool, c store.Client, secret string) error {
	if asJSON {
		// The admin API's fields (ClientWithSecretJSON), the secret only now.
		return writeJSON(w, admin.ClientWithSecretJSON{ClientJSON: admin.ClientView(c), ClientSecret: secret})
	}
	fmt.Fprintf(w, "client_id:     %s\n", c.ID)
	if secret != "" {
		fmt.Fprintf(w, "client_secret: %s\n(shown only now; Gatehouse stores a hash)\n", secret)
	}
	fmt.Fprintf(w, "name: %s\npublic: %v\nauth method: %s\ngrant types: %s\nscopes: %s\nredirect URIs: %s\ndefault API: %s\nother APIs: %s\nID token alg: %s\nresource server for: %s\n"+
		"exchange token types: %s\nexchange providers: %s\n",
		c.Name, c.Public, c.TokenEndpointAuthMethod, strings.Join(c.GrantTypes, " "), strings.Join(c.Scopes, " "),
		strings.Join(c.RedirectURIs, " "), c.DefaultAudience, strings.Join(c.Audiences, " "), c.IDTokenAlg(), strings.Join(c.ResourceServerFor, " "),
		strings.Join(c.ExchangeTokenTypes, " "), strings.Join(c.ExchangeProviders, " "))
	if c.DPoPBoundAccessTokens {
		fmt.Fprintf(w, "require DPoP: yes\n")
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
