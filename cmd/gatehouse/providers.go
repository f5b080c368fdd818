package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers"
)

const providersAbout = `Manages the upstream identity providers people sign in with.

  add-oidc    add or update an OpenID Connect provider (Entra ID, Okta, Google, Keycloak, …)
  add-saml    add or update a SAML 2.0 IdP (ADFS, Shibboleth, SimpleSAMLphp, Entra ID, …)
  list        every provider
  show ID     one provider: for OIDC its issuer, client ID and the redirect URI to register
              at the IdP; for SAML the SP entity ID, metadata, ACS and SLO URLs to give the IdP
  disable ID, enable ID, remove ID
              disable and remove end every session signed in with the provider and revoke
              the refresh and access tokens issued under them, at once and on every replica

Examples:
  gatehouse providers add-oidc --help
  gatehouse providers list --json
  gatehouse providers show entra

Every field of a provider, and worked examples for common IdPs, are in
cmd/gatehouse/PROVIDERS.md. Secrets (client secret, SAML SP key) are stored encrypted
with the master key and never printed.`

const addOIDCAbout = `Adds an OpenID Connect provider, or replaces the settings of the one with the same
--id by those given (its stored client secret is kept unless a new one is given). The issuer's discovery document is fetched first,
through the same outbound guard as sign-ins, and a provider whose discovery cannot be
fetched is refused with the reason; --skip-check adds it without (offline setup).

Examples:
  # Microsoft Entra ID (single tenant); register the redirect URI 'providers show' prints
  gatehouse providers add-oidc --id entra --name "Contoso staff" \
    --oidc-issuer https://login.microsoftonline.com/TENANT-ID/v2.0 \
    --client-id APPLICATION-ID --client-secret-file entra-secret.txt --domains contoso.com

  # Okta, taking the person's groups into the "groups" claim
  gatehouse providers add-oidc --id okta --name Okta --oidc-issuer https://example.okta.com \
    --client-id 0oa1b2c3 --client-secret-file okta-secret.txt --scopes openid,email,profile,groups

  # from a file in the providers-file format (flags given as well override it)
  gatehouse providers add-oidc --from-file keycloak.yaml`

const addSAMLAbout = `Adds a SAML 2.0 identity provider, or replaces the settings of the one with the same
--id by those given (its SP key pair is kept: the IdP has it registered). Give the IdP the SP metadata URL 'providers show'
prints. The IdP's metadata comes from --metadata-url (https; refreshed every 6h) or
--metadata-file.

Examples:
  # ADFS: relying party trust from Gatehouse's SP metadata; claims as ADFS sends them
  gatehouse providers add-saml --id adfs --name "Corp (ADFS)" \
    --metadata-url https://adfs.example.com/FederationMetadata/2007-06/FederationMetadata.xml \
    --name-id-format urn:oasis:names:tc:SAML:2.0:nameid-format:persistent \
    --map-email http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn

  # Shibboleth IdP, with IdP-initiated sign-in from the IdP's portal
  gatehouse providers add-saml --id uni --name University \
    --metadata-url https://idp.example.ac.uk/idp/shibboleth --allow-idp-initiated --emails-verified

  # from a file in the providers-file format (flags given as well override it)
  gatehouse providers add-saml --from-file adfs.yaml --metadata-file FederationMetadata.xml`

// providerSubcommands are the providers subcommands, in the order help lists them.
var providerSubcommands = []string{"add-oidc", "add-saml", "list", "show", "disable", "enable", "remove"}

func cmdProviders(ctx context.Context, env *environment, args []string) error {
	sub, rest := pickSubcommand(args, providerSubcommands)
	if sub == "" {
		fs := newFlagSet(env, "providers", "providers add-oidc|add-saml|list|show|disable|enable|remove [ID] [flags]", providersAbout)
		configFlags(fs, env)
		if slices.ContainsFunc(args, isHelpFlag) {
			fs.Usage()
			return flag.ErrHelp
		}
		fs.Usage()
		if len(args) == 0 {
			return errors.New("providers needs a subcommand: " + strings.Join(providerSubcommands, ", "))
		}
		return fmt.Errorf("unknown providers subcommand %q: it is one of %s", args[0], strings.Join(providerSubcommands, ", "))
	}
	if sub == "add-oidc" || sub == "add-saml" {
		return providersAdd(ctx, env, sub, rest)
	}
	usageLine := "providers " + sub + " ID [--json]"
	about := "Shows one provider."
	switch sub {
	case "list":
		usageLine, about = "providers list [--json]", "Lists every provider."
	case "disable":
		about = "Stops sign-ins with the provider, ends every session signed in with it and revokes\nthe tokens issued under them, at once and on every replica."
	case "enable":
		about = "Lets people sign in with the provider again; what a disable ended stays ended."
	case "remove":
		about = "Removes the provider and the identities linked at it (their users keep their\naccounts), ending their sessions as disable does."
	}
	fs := newFlagSet(env, "providers "+sub, usageLine, about+"\n\nExample:\n  gatehouse "+strings.Replace(usageLine, "ID", "entra", 1))
	asJSON := fs.Bool("json", false, "print the admin API's JSON (snake_case, as GET /api/admin/v1/providers)")
	load := configFlags(fs, env)
	want := func(a []string) bool { return len(a) == 1 }
	wantMsg := fmt.Sprintf("providers %s needs exactly one provider ID", sub)
	if sub == "list" {
		want, wantMsg = noArgs, "providers list takes no arguments"
	}
	args, cfg, err := parseCommand(fs, load, rest, want, wantMsg)
	if err != nil {
		return err
	}
	db, uenv, err := openProviders(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	ops, closeOps := newOperations(cfg, db, uenv, nil, nil)
	defer closeOps()
	if sub == "list" {
		ps, err := ops.ListProviders(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]admin.ProviderJSON, 0, len(ps))
			for _, p := range ps {
				j, err := admin.ProviderView(cfg.Issuer, uenv.Keyring, p)
				if err != nil {
					return err
				}
				out = append(out, j)
			}
			return writeJSONTo(env.stdout, out)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tNAME\tENABLED\tDOMAINS\tVERSION")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%d\n", p.ID, p.Kind, p.Name, p.Enabled, strings.Join(p.Domains, ","), p.Version)
		}
		return tw.Flush()
	}
	ref := operations.ProviderRef{ID: args[0]}
	var ch operations.ProviderChange
	switch sub {
	case "show":
		ch.Provider, err = ops.GetProvider(ctx, ref.ID)
	case "remove":
		ch, err = ops.RemoveProvider(ctx, cliActor, ref)
	case "disable":
		ch, err = ops.DisableProvider(ctx, cliActor, ref)
	case "enable":
		ch, err = ops.EnableProvider(ctx, cliActor, ref)
	}
	if err != nil {
		return reword(err, "provider", ref.ID, false)
	}
	if ch.CutOff != nil {
		printCutOff(env, ref.ID, *ch.CutOff, *asJSON)
	}
	if sub == "remove" {
		if !*asJSON {
			fmt.Fprintf(env.stdout, "Removed provider %s. Its users keep their accounts; they cannot sign in with it any more.\n", ref.ID)
		}
		return nil
	}
	return showProvider(env.stdout, cfg, uenv, ch.Provider, *asJSON)
}

// providersAdd is providers add-oidc and add-saml, each with only its own flags.
func providersAdd(ctx context.Context, env *environment, sub string, args []string) error {
	kind := strings.TrimPrefix(sub, "add-")
	about, usageLine := addOIDCAbout, "providers add-oidc --id ID --name NAME --oidc-issuer URL --client-id ID --client-secret-file FILE [flags]"
	if kind == upstream.KindSAML {
		about, usageLine = addSAMLAbout, "providers add-saml --id ID --name NAME (--metadata-url URL | --metadata-file FILE) [flags]"
	}
	fs := newFlagSet(env, "providers "+sub, usageLine, about)
	asJSON := fs.Bool("json", false, "print the admin API's JSON (snake_case, as GET /api/admin/v1/providers/{id})")
	fromFile := fs.String("from-file", "", "JSON or YAML file with the provider, as an entry of the providers file (PROVIDERS.md)")
	var spec upstream.Spec
	fs.StringVar(&spec.ID, "id", "", "provider ID (lower-case letters, digits, dashes); appears in URLs")
	fs.StringVar(&spec.Name, "name", "", "name shown on the sign-in page")
	domains := fs.String("domains", "", "comma-separated email domains whose people are sent to this provider")
	trust := fs.Bool("trust-email-linking", false, "a verified email from this provider may link to an existing user")
	logo := fs.String("logo-url", "", "https URL of a logo for the sign-in page")
	var exchange upstream.ExchangeSettings
	exchangeAuds := &listFlag{}
	fs.BoolVar(&exchange.Enabled, "exchange", false, "allow this provider's ID tokens (OIDC) or assertions (SAML) at token exchange (RFC 8693)")
	if kind == upstream.KindOIDC {
		fs.Var(exchangeAuds, "exchange-audience", "an aud an ID token must carry to be exchanged, e.g. the client ID of one of\n"+
			"the organisation's apps (repeatable; required with --exchange; the provider's own client ID only if listed)")
		fs.BoolVar(&exchange.OneTime, "exchange-one-time", false, "each ID token is exchanged at most once")
	}
	fs.BoolVar(&exchange.CreateUsers, "exchange-create-users", false, "exchange of an identity not linked yet creates its user (as a first sign-in)")
	maps := map[string]*listFlag{}
	for _, m := range mappingFlags {
		maps[m.flag] = &listFlag{}
		fs.Var(maps[m.flag], m.flag, m.usage(kind))
	}
	var oidcS upstream.OIDCSettings
	var samlS upstream.SAMLSettings
	var secretFile, scopes, mdFile *string
	var spValidity *time.Duration
	var signRequests *bool
	var skipCheck *bool
	if kind == upstream.KindOIDC {
		fs.StringVar(&oidcS.Issuer, "oidc-issuer", "", "issuer URL, exactly as the discovery document names it (https)")
		fs.StringVar(&oidcS.ClientID, "client-id", "", "the client ID the IdP gave Gatehouse")
		secretFile = fs.String("client-secret-file", "", "file holding the client secret (- for stdin); never on the command line")
		scopes = fs.String("scopes", "", "scopes, comma-separated (default openid,email,profile)")
		skipCheck = fs.Bool("skip-check", false, "do not fetch the issuer's discovery document now (offline setup)")
	} else {
		fs.StringVar(&samlS.MetadataURL, "metadata-url", "", "IdP metadata URL (https; refreshed every 6h)")
		mdFile = fs.String("metadata-file", "", "IdP metadata XML file")
		fs.BoolVar(&samlS.EmailsVerified, "emails-verified", false, "the IdP verifies the email addresses it asserts")
		fs.BoolVar(&samlS.AllowIDPInitiated, "allow-idp-initiated", false, "accept IdP-initiated sign-in (unsolicited responses); the person\n"+
			"still confirms on a page before being signed in (SAML-35)")
		fs.StringVar(&samlS.NameIDFormat, "name-id-format", "", "NameID format to request, e.g. urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\n"+
			"(the default) or urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
		fs.BoolVar(&samlS.RequireSignedAssertion, "require-signed-assertion", false, "refuse responses whose assertion itself is not signed")
		fs.StringVar(&samlS.RequestBinding, "request-binding", "", "how AuthnRequests travel: redirect (default) or post")
		spValidity = fs.Duration("sp-metadata-validity", 0, "how long Gatehouse's SP metadata stays valid (default 720h)")
		signRequests = fs.Bool("sign-requests", true, "sign AuthnRequests; false only for an IdP that cannot verify them")
		fs.BoolVar(&samlS.RequireEncryptedAssertions, "require-encrypted-assertions", false, "refuse assertions the IdP did not encrypt to the SP certificate")
	}
	load := configFlags(fs, env)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fs.Usage()
		return fmt.Errorf("providers %s takes flags only, not %q", sub, rest)
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *fromFile != "" {
		b, err := os.ReadFile(*fromFile)
		if err != nil {
			return err
		}
		if spec, err = mergeSpecFile(b, spec, set); err != nil {
			return fmt.Errorf("%s: %s", *fromFile, strings.Join(problemLines(err), "; "))
		}
	}
	db, uenv, err := openProviders(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	spec.Kind = kind
	if set["domains"] {
		spec.Domains = splitComma(*domains)
	}
	if set["trust-email-linking"] {
		spec.TrustEmailLinking = *trust
	}
	common := func(c *upstream.Common) {
		if set["logo-url"] {
			c.LogoURL = *logo
		}
		if set["exchange"] {
			c.Exchange.Enabled = exchange.Enabled
		}
		if set["exchange-audience"] {
			c.Exchange.Audiences = exchangeAuds.vals
		}
		if set["exchange-one-time"] {
			c.Exchange.OneTime = exchange.OneTime
		}
		if set["exchange-create-users"] {
			c.Exchange.CreateUsers = exchange.CreateUsers
		}
		applyMapping(&c.Mapping, kind, maps)
	}
	if kind == upstream.KindOIDC {
		if spec.OIDC == nil {
			spec.OIDC = &upstream.OIDCSettings{}
		}
		if set["oidc-issuer"] {
			spec.OIDC.Issuer = oidcS.Issuer
		}
		if set["client-id"] {
			spec.OIDC.ClientID = oidcS.ClientID
		}
		if set["scopes"] {
			spec.OIDC.Scopes = splitComma(*scopes)
		}
		common(&spec.OIDC.Common)
		if *secretFile != "" {
			if spec.ClientSecret, err = readSecret(*secretFile, env); err != nil {
				return fmt.Errorf("--client-secret-file: %w", err)
			}
		}
	} else {
		if spec.SAML == nil {
			spec.SAML = &upstream.SAMLSettings{}
		}
		if set["metadata-url"] {
			spec.SAML.MetadataURL, spec.SAML.MetadataXML = samlS.MetadataURL, ""
		}
		if *mdFile != "" {
			b, err := os.ReadFile(*mdFile)
			if err != nil {
				return fmt.Errorf("--metadata-file: %w", err)
			}
			spec.SAML.MetadataXML = string(b)
		}
		for name, apply := range map[string]func(){
			"emails-verified":          func() { spec.SAML.EmailsVerified = samlS.EmailsVerified },
			"allow-idp-initiated":      func() { spec.SAML.AllowIDPInitiated = samlS.AllowIDPInitiated },
			"name-id-format":           func() { spec.SAML.NameIDFormat = samlS.NameIDFormat },
			"require-signed-assertion": func() { spec.SAML.RequireSignedAssertion = samlS.RequireSignedAssertion },
			"request-binding":          func() { spec.SAML.RequestBinding = samlS.RequestBinding },
			"sp-metadata-validity":     func() { spec.SAML.SPMetadataValidity = upstream.Duration(*spValidity) },
			"sign-requests":            func() { spec.SAML.SignRequests = signRequests },
			"require-encrypted-assertions": func() {
				spec.SAML.RequireEncryptedAssertions = samlS.RequireEncryptedAssertions
			},
		} {
			if set[name] {
				apply()
			}
		}
		common(&spec.SAML.Common)
	}
	if problems := checkSpec(ctx, db, uenv, spec); len(problems) > 0 {
		return fmt.Errorf("provider %s not saved:\n  %s", spec.ID, strings.Join(problems, "\n  "))
	}
	if kind == upstream.KindOIDC && !*skipCheck {
		// OpenID Connect Discovery 1.0 §4: what sign-in will fetch first, fetched
		// now, so an issuer that cannot work is refused with the reason.
		if _, err := uenv.FetchDiscovery(ctx, spec.OIDC.Issuer); err != nil {
			return fmt.Errorf("provider %s not saved: the discovery document of oidc.issuer %s cannot be fetched: %s\n"+
				"Check the issuer URL (it is the \"issuer\" of %s/.well-known/openid-configuration); "+
				"--skip-check adds the provider without fetching it (offline setup)",
				spec.ID, spec.OIDC.Issuer, strings.Join(problemLines(err), "; "), strings.TrimSuffix(spec.OIDC.Issuer, "/"))
		}
	}
	ops, closeOps := newOperations(cfg, db, uenv, nil, nil)
	defer closeOps()
	ch, err := ops.UpsertProvider(ctx, cliActor, spec)
	if ch.CutOff != nil && err == nil {
		printCutOff(env, ch.Provider.ID, *ch.CutOff, *asJSON)
	}
	if err != nil {
		return err
	}
	p := ch.Provider
	verb := "Updated"
	if ch.Created {
		verb = "Added"
	}
	if !*asJSON {
		fmt.Fprintf(env.stdout, "%s provider %s (version %d).\n", verb, p.ID, p.Version)
	}
	return showProvider(env.stdout, cfg, uenv, p, *asJSON)
}

// mappingFlags are the --map-* flags: the claims (OIDC) or attributes (SAML)
// an identity's fields come from (providers.Mapping).
var mappingFlags = []mappingFlag{
	{"map-subject", "the stable user identifier", func(m *providers.Mapping) *[]string { return &m.Subject }},
	{"map-email", "the email address", func(m *providers.Mapping) *[]string { return &m.Email }},
	{"map-name", "the display name", func(m *providers.Mapping) *[]string { return &m.Name }},
	{"map-given-name", "the given name", func(m *providers.Mapping) *[]string { return &m.GivenName }},
	{"map-family-name", "the family name", func(m *providers.Mapping) *[]string { return &m.FamilyName }},
	{"map-groups", "the groups (role_rules match them as \"groups\")", func(m *providers.Mapping) *[]string { return &m.Groups }},
}

type mappingFlag struct {
	flag, what string
	field      func(*providers.Mapping) *[]string
}

func (m mappingFlag) usage(kind string) string {
	if kind == upstream.KindSAML {
		return "SAML attribute name(s) " + m.what + " comes from, first found wins (repeatable;\n" +
			"replaces the default list for this field, the others keep theirs)"
	}
	return "claim(s) " + m.what + " comes from, first found wins (repeatable; replaces the\n" +
		"default for this field, the others keep theirs)"
}

// applyMapping sets the fields of m the --map-* flags name. A provider's
// mapping replaces its kind's default as a whole once set, so the fields
// no flag names start from the default rather than from nothing.
func applyMapping(m *providers.Mapping, kind string, flags map[string]*listFlag) {
	given := false
	for _, f := range flags {
		given = given || f.set
	}
	if !given {
		return
	}
	if m.IsZero() {
		*m = providers.DefaultOIDCMapping()
		if kind == upstream.KindSAML {
			*m = providers.DefaultSAMLMapping()
		}
	}
	for _, mf := range mappingFlags {
		if f := flags[mf.flag]; f.set {
			*mf.field(m) = f.vals
		}
	}
}

// pickSubcommand finds the first of names among args (flags may come before
// it: "providers --json list") and returns it and the other arguments.
func pickSubcommand(args, names []string) (string, []string) {
	for i, a := range args {
		if slices.Contains(names, a) {
			return a, slices.Concat(args[:i], args[i+1:])
		}
	}
	return "", args
}

func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// printCutOff reports what disabling or removing provider id ended.
func printCutOff(env *environment, id string, c operations.CutOffResult, quiet bool) {
	if !quiet {
		fmt.Fprintf(env.stdout, "Ended %d session(s) signed in with %s; revoked %d refresh token(s) and the access tokens issued under them.\n",
			c.Sessions, id, c.RefreshTokens)
	}
}

// openProviders opens the database and the environment providers are checked in.
func openProviders(ctx context.Context, cfg *config.Config) (*sqlstore.DB, upstream.Env, error) {
	if err := cfg.RequireMasterKey(); err != nil {
		return nil, upstream.Env{}, err
	}
	ring, err := seal.NewKeyring(cfg.MasterKeys...)
	if err != nil {
		return nil, upstream.Env{}, err
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return nil, upstream.Env{}, err
	}
	return db, upstream.Env{Issuer: cfg.Issuer, Keyring: ring, Networks: cfg.UpstreamAllowedNetworks}, nil
}

// mergeSpecFile reads one provider from JSON or YAML; flags the user set override it.
func mergeSpecFile(b []byte, flags upstream.Spec, set map[string]bool) (upstream.Spec, error) {
	s, err := upstream.ParseSpec(b)
	if err != nil {
		return flags, err
	}
	if set["id"] {
		s.ID = flags.ID
	}
	if set["name"] {
		s.Name = flags.Name
	}
	return s, nil
}

func readSecret(path string, env *environment) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 4096))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// showProvider prints p: as the admin API's JSON (settings without secrets,
// only whether they are set, ADM-12), or as text with what the IdP needs from
// Gatehouse (the redirect URI; the SP URLs).
func showProvider(w io.Writer, cfg *config.Config, uenv upstream.Env, p store.ProviderConfig, asJSON bool) error {
	d, err := admin.ProviderView(cfg.Issuer, uenv.Keyring, p)
	if err != nil {
		return err
	}
	if asJSON {
		if d.SAML != nil && d.SAML.MetadataURL != "" {
			// The fetched copy is long and comes from the URL shown.
			d.SAML.MetadataXML = ""
		}
		return writeJSONTo(w, d)
	}
	ep := upstream.EndpointsFor(cfg.Issuer, p.ID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\nKind\t%s\nName\t%s\nEnabled\t%v\nDomains\t%s\nTrust email linking\t%v\nVersion\t%d\n",
		d.ID, d.Kind, d.Name, d.Enabled, strings.Join(d.Domains, ", "), d.TrustEmailLinking, d.Version)
	fmt.Fprintf(tw, "Token exchange\t%s\n", describeExchange(p))
	if s := d.SAML; s != nil {
		md := s.MetadataURL
		if md == "" {
			md = fmt.Sprintf("uploaded (%d bytes)", len(s.MetadataXML))
		}
		nameID := s.NameIDFormat
		if nameID == "" {
			nameID = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent (default)"
		}
		fmt.Fprintf(tw, "IdP metadata\t%s\nNameID format\t%s\nIdP-initiated sign-in\t%s\n", md, nameID, onOff(s.AllowIDPInitiated))
		fmt.Fprintf(tw, "SP entity ID\t%s\nSP metadata URL\t%s\nACS URL\t%s\nSLO URL\t%s\n", s.SPEntityID, s.SPMetadataURL, s.SPACSURL, ep.SLO)
	} else if o := d.OIDC; o != nil {
		scopes := strings.Join(o.Scopes, " ")
		if scopes == "" {
			scopes = "openid email profile (default)"
		}
		fmt.Fprintf(tw, "Issuer\t%s\nClient ID\t%s\nScopes\t%s\nRedirect URI\t%s\nClient secret set\t%s\n",
			o.Issuer, o.ClientID, scopes, ep.Callback, yesNo(d.ClientSecretSet))
	}
	return tw.Flush()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// describeExchange is the provider's token-exchange settings in one line.
func describeExchange(p store.ProviderConfig) string {
	var x upstream.ExchangeSettings
	if p.Kind == upstream.KindSAML {
		s, _ := upstream.DecodeSAML(p.Settings)
		x = s.Exchange
	} else {
		s, _ := upstream.DecodeOIDC(p.Settings)
		x = s.Exchange
	}
	if !x.Enabled {
		return "off"
	}
	out := []string{"on"}
	if len(x.Audiences) > 0 {
		out = append(out, "audiences "+strings.Join(x.Audiences, ", "))
	}
	if x.OneTime {
		out = append(out, "one-time")
	}
	if x.CreateUsers {
		out = append(out, "creates users")
	}
	return strings.Join(out, "; ")
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
