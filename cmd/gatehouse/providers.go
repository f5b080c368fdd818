package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

const providersAbout = `Manages upstream identity providers.

  add-oidc    --id ID --name NAME --oidc-issuer URL --client-id ID --client-secret-file FILE [--domains a.com,b.com]
  add-saml    --id ID --name NAME (--metadata-url URL | --metadata-file FILE) [--domains ...]
              [--emails-verified] [--sp-metadata-validity 720h]
              [--sign-requests=false] [--require-encrypted-assertions]
              (in a file: "saml": {"sign_requests": false, "require_encrypted_assertions": true};
              AuthnRequests are signed unless sign_requests is false; encryption is not required by default)
  add-*       [--exchange --exchange-audience AUD ... --exchange-one-time --exchange-create-users]
              token exchange (RFC 8693) of the provider's ID tokens or assertions; OIDC needs the audiences
  add-*       --from-file FILE: the provider as JSON or YAML (the format of GATEHOUSE_PROVIDERS_FILE entries);
              flags given as well override the file. Adding an existing ID updates it.
  list        every provider
  show ID     one provider; for SAML also the SP entity ID, metadata, ACS and SLO URLs to give the IdP
  disable ID, enable ID, remove ID
              disable and remove end every session signed in with the provider and revoke the refresh
              and access tokens issued under them, at once and on every replica

Secrets (client secret, SAML SP key) are stored encrypted with the master key and never printed.`

func cmdProviders(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "providers", "providers [flags] add-oidc|add-saml|list|show|disable|enable|remove [ID]", providersAbout)
	asJSON := fs.Bool("json", false, "print machine-readable JSON")
	fromFile := fs.String("from-file", "", "JSON or YAML file describing the provider")
	var spec upstream.Spec
	var oidcS upstream.OIDCSettings
	var samlS upstream.SAMLSettings
	fs.StringVar(&spec.ID, "id", "", "provider ID (lower-case letters, digits, dashes); appears in URLs")
	fs.StringVar(&spec.Name, "name", "", "name shown on the sign-in page")
	domains := fs.String("domains", "", "comma-separated email domains for home-realm discovery")
	trust := fs.Bool("trust-email-linking", false, "a verified email from this provider may link to an existing user")
	fs.StringVar(&oidcS.Issuer, "oidc-issuer", "", "OIDC issuer URL")
	fs.StringVar(&oidcS.ClientID, "client-id", "", "OIDC client ID")
	secretFile := fs.String("client-secret-file", "", "file holding the OIDC client secret (- for stdin); never on the command line")
	scopes := fs.String("scopes", "", "OIDC scopes, comma-separated (default openid,email,profile)")
	fs.StringVar(&samlS.MetadataURL, "metadata-url", "", "SAML IdP metadata URL (https; refreshed on a schedule)")
	mdFile := fs.String("metadata-file", "", "SAML IdP metadata XML file")
	fs.BoolVar(&samlS.EmailsVerified, "emails-verified", false, "SAML: the IdP verifies the email addresses it asserts")
	spValidity := fs.Duration("sp-metadata-validity", 0, "SAML: how long Gatehouse's SP metadata stays valid (default 720h)")
	signRequests := fs.Bool("sign-requests", true, "SAML: sign AuthnRequests; false only for an IdP that cannot verify them")
	fs.BoolVar(&samlS.RequireEncryptedAssertions, "require-encrypted-assertions", false, "SAML: refuse assertions the IdP did not encrypt to the SP certificate")
	logo := fs.String("logo-url", "", "https URL of a logo for the sign-in page")
	var exchange upstream.ExchangeSettings
	exchangeAuds := &listFlag{}
	fs.BoolVar(&exchange.Enabled, "exchange", false, "allow this provider's ID tokens (OIDC) or assertions (SAML) at token exchange")
	fs.Var(exchangeAuds, "exchange-audience", "OIDC: an aud an ID token must carry to be exchanged, e.g. the client ID of one of\n"+
		"the organisation's apps (repeatable; required with --exchange; the provider's own client ID only if listed)")
	fs.BoolVar(&exchange.OneTime, "exchange-one-time", false, "OIDC: each ID token is exchanged at most once")
	fs.BoolVar(&exchange.CreateUsers, "exchange-create-users", false, "exchange of an identity not linked yet creates its user (as a first sign-in)")
	load := configFlags(fs, env)
	args, cfg, err := parseCommand(fs, load, args, someArgs, "providers needs a subcommand")
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
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	switch sub := args[0]; sub {
	case "add-oidc", "add-saml":
		kind := strings.TrimPrefix(sub, "add-")
		if *fromFile != "" {
			b, err := os.ReadFile(*fromFile)
			if err != nil {
				return err
			}
			if spec, err = mergeSpecFile(b, spec, set); err != nil {
				return err
			}
		}
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
					return err
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
					return err
				}
				spec.SAML.MetadataXML = string(b)
			}
			if set["emails-verified"] {
				spec.SAML.EmailsVerified = samlS.EmailsVerified
			}
			if set["sp-metadata-validity"] {
				spec.SAML.SPMetadataValidity = upstream.Duration(*spValidity)
			}
			if set["sign-requests"] {
				spec.SAML.SignRequests = signRequests
			}
			if set["require-encrypted-assertions"] {
				spec.SAML.RequireEncryptedAssertions = samlS.RequireEncryptedAssertions
			}
			common(&spec.SAML.Common)
		}
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
		return showProvider(env.stdout, cfg, p, *asJSON)
	case "list":
		ps, err := ops.ListProviders(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]providerJSON, 0, len(ps))
			for _, p := range ps {
				out = append(out, describe(cfg, p))
			}
			return writeJSONTo(env.stdout, out)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tNAME\tENABLED\tDOMAINS\tVERSION")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%d\n", p.ID, p.Kind, p.Name, p.Enabled, strings.Join(p.Domains, ","), p.Version)
		}
		return tw.Flush()
	case "show", "disable", "enable", "remove":
		if len(args) != 2 {
			return fmt.Errorf("providers %s needs a provider ID", sub)
		}
		ref := operations.ProviderRef{ID: args[1]}
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
			return err
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
		return showProvider(env.stdout, cfg, ch.Provider, *asJSON)
	}
	fs.Usage()
	return fmt.Errorf("unknown providers subcommand %q", args[0])
}

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

// providerJSON is the public view of a provider: settings without secrets (only
// whether they are set, ADM-12) and, for SAML, the URLs its IdP needs.
type providerJSON struct {
	ID                string          `json:"id"`
	Kind              string          `json:"kind"`
	Name              string          `json:"name"`
	Domains           []string        `json:"domains"`
	Enabled           bool            `json:"enabled"`
	TrustEmailLinking bool            `json:"trust_email_linking"`
	Version           int64           `json:"version"`
	SecretsSet        bool            `json:"secrets_set"`
	Settings          json.RawMessage `json:"settings"`
	Callback          string          `json:"callback_url,omitempty"`
	SPEntityID        string          `json:"sp_entity_id,omitempty"`
	SPMetadataURL     string          `json:"sp_metadata_url,omitempty"`
	ACSURL            string          `json:"acs_url,omitempty"`
	SLOURL            string          `json:"slo_url,omitempty"`
}

func describe(cfg *config.Config, p store.ProviderConfig) providerJSON {
	ep := upstream.EndpointsFor(cfg.Issuer, p.ID)
	out := providerJSON{ID: p.ID, Kind: p.Kind, Name: p.Name, Domains: p.Domains, Enabled: p.Enabled,
		TrustEmailLinking: p.TrustEmailLinking, Version: p.Version, SecretsSet: len(p.SecretsEnc) > 0, Settings: p.Settings}
	if out.Domains == nil {
		out.Domains = []string{}
	}
	if p.Kind == upstream.KindSAML {
		out.SPEntityID, out.SPMetadataURL, out.ACSURL, out.SLOURL = ep.EntityID, ep.Metadata, ep.ACS, ep.SLO
		if s, err := upstream.DecodeSAML(p.Settings); err == nil && s.MetadataURL != "" {
			s.MetadataXML = fmt.Sprintf("(%d bytes fetched from metadata_url)", len(s.MetadataXML))
			out.Settings, _ = json.Marshal(s)
		}
	} else {
		out.Callback = ep.Callback
	}
	return out
}

func showProvider(w io.Writer, cfg *config.Config, p store.ProviderConfig, asJSON bool) error {
	d := describe(cfg, p)
	if asJSON {
		return writeJSONTo(w, d)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\nKind\t%s\nName\t%s\nEnabled\t%v\nDomains\t%s\nTrust email linking\t%v\nVersion\t%d\n",
		d.ID, d.Kind, d.Name, d.Enabled, strings.Join(d.Domains, ", "), d.TrustEmailLinking, d.Version)
	fmt.Fprintf(tw, "Token exchange\t%s\n", describeExchange(p))
	if d.Kind == upstream.KindSAML {
		fmt.Fprintf(tw, "SP entity ID\t%s\nSP metadata URL\t%s\nACS URL\t%s\nSLO URL\t%s\n", d.SPEntityID, d.SPMetadataURL, d.ACSURL, d.SLOURL)
	} else {
		fmt.Fprintf(tw, "Redirect URI\t%s\nClient secret set\t%v\n", d.Callback, d.SecretsSet)
	}
	return tw.Flush()
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
