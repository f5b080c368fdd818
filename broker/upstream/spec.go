package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// Spec is a provider as an admin writes it: in a providers file, in
// `gatehouse providers add-* --from-file`, or built from CLI flags.
type Spec struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Domains []string `json:"domains,omitempty"`
	// Enabled defaults to true.
	Enabled           *bool         `json:"enabled,omitempty"`
	TrustEmailLinking bool          `json:"trust_email_linking,omitempty"`
	OIDC              *OIDCSettings `json:"oidc,omitempty"`
	SAML              *SAMLSettings `json:"saml,omitempty"`
	// ClientSecret (OIDC) is sealed before it is stored; empty on an update
	// keeps the stored one.
	ClientSecret string `json:"client_secret,omitempty"`
}

// ParseSpecs reads a providers file, JSON or YAML: a list of specs, or an object
// with a "providers" list. Unknown fields are errors. Every problem of every
// entry is reported at once, one a line, each naming the entry (EntryName) and
// the field as written in the file.
func ParseSpecs(b []byte) ([]Spec, error) {
	specs, problems, err := ParseSpecEntries(b)
	if err != nil {
		return nil, err
	}
	var lines []string
	for i, p := range problems {
		for _, e := range p {
			lines = append(lines, EntryName(i, specs[i].ID)+": "+e)
		}
	}
	if len(lines) > 0 {
		return nil, fmt.Errorf("%w: %s", providers.ErrConfig, strings.Join(lines, "\n"))
	}
	return specs, nil
}

// ParseSpecEntries reads a providers file as ParseSpecs does, and returns
// each entry with its own problems (problems[i] for specs[i]; a spec with
// problems holds only its ID), so a caller can check the good entries further
// and report everything at once. err is a problem of the file as a whole.
func ParseSpecEntries(b []byte) (specs []Spec, problems [][]string, err error) {
	b, err = toJSON(b)
	if err != nil {
		return nil, nil, err
	}
	var entries []json.RawMessage
	if len(b) > 0 && b[0] == '{' {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", providers.ErrConfig, err)
		}
		for k := range doc {
			if k != "providers" {
				return nil, nil, fmt.Errorf("%w: unknown top-level field %q: the file is a list of providers, or an object with only \"providers\": [...]", providers.ErrConfig, k)
			}
		}
		b = doc["providers"]
	}
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, nil, fmt.Errorf("%w: the file must be a list of providers, or an object with \"providers\": [...]", providers.ErrConfig)
	}
	specs, problems = make([]Spec, 0, len(entries)), make([][]string, len(entries))
	first := map[string]int{}
	for i, raw := range entries {
		s, errs := parseEntry(raw)
		switch {
		case s.ID == "":
			// Missing, null or empty (found by FuzzParseSpecs): every entry is
			// named by its ID, in the database and in every later message.
			errs = append(errs, "id is required: lower-case letters, digits and dashes, like \"corp\"")
		case !ValidID(s.ID):
			errs = append(errs, fmt.Sprintf("id %q must be lower-case letters, digits and dashes", s.ID))
		}
		if j, dup := first[s.ID]; dup && s.ID != "" {
			errs = append(errs, fmt.Sprintf("the id %q is used by entry %d already: each provider appears once", s.ID, j+1))
		} else {
			first[s.ID] = i
		}
		problems[i] = errs
		specs = append(specs, s)
	}
	return specs, problems, nil
}

// EntryName names entry i (from 0) of a providers file for an error message.
func EntryName(i int, id string) string {
	if id == "" {
		return fmt.Sprintf("entry %d", i+1)
	}
	return fmt.Sprintf("provider %q (entry %d)", id, i+1)
}

// parseEntry decodes one entry and reports its problems in the file's words.
func parseEntry(raw json.RawMessage) (Spec, []string) {
	var s Spec
	if problems := specProblems(raw); len(problems) > 0 {
		// The ID still names the entry in the messages.
		var id struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &id)
		s.ID = id.ID
		return s, problems
	}
	if err := decodeStrict(raw, &s); err != nil {
		return s, []string{strings.TrimPrefix(err.Error(), providers.ErrConfig.Error()+": ")}
	}
	return s, nil
}

// ParseSpec reads one provider, JSON or YAML (gatehouse providers add-* --from-file).
func ParseSpec(b []byte) (Spec, error) {
	b, err := toJSON(b)
	if err != nil {
		return Spec{}, err
	}
	s, problems := parseEntry(b)
	if len(problems) > 0 {
		return Spec{}, fmt.Errorf("%w: %s", providers.ErrConfig, strings.Join(problems, "\n"))
	}
	return s, nil
}

// toJSON passes JSON through and converts YAML to JSON, so that both go through the
// same strict decoding (unknown fields refused) and the same error messages.
func toJSON(b []byte) ([]byte, error) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		return b, nil
	}
	// yaml.YAMLToJSON reads the first document and drops the rest: a second one
	// (YAML 1.2 §9.2, "---" at the start of a line) is refused instead.
	if yamlDocumentStart.Match(bytes.TrimPrefix(yamlLeading.ReplaceAll(b, nil), []byte("---"))) {
		return nil, fmt.Errorf("%w: more than one YAML document", providers.ErrConfig)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%w: neither JSON nor YAML: %v", providers.ErrConfig, err)
	}
	return j, nil
}

var (
	// yamlLeading is the blank and comment lines before a document's content.
	yamlLeading = regexp.MustCompile(`\A(?:[ \t]*(?:#[^\n]*)?\n)*`)
	// yamlDocumentStart is a "---" line, which starts a document.
	yamlDocumentStart = regexp.MustCompile(`(?m)^---(?:[ \t]|$)`)
)

func encode(v any) ([]byte, error) { return json.Marshal(v) }

// Upsert creates the provider spec describes, or updates the stored one with the
// same ID. A SAML provider keeps its SP key pair across updates (IdPs have it
// registered) and gets a new one on creation; metadata given by URL is fetched
// now and must validate. The result is built once before it is stored, so an
// unusable configuration is refused rather than saved (SAML-13). An update
// that changes nothing leaves the version alone. A provider's issuer (OIDC) or
// entity ID (SAML) must be its own, and cannot change while identities are
// linked at it (issuer.go).
func Upsert(ctx context.Context, st Store, env Env, spec Spec) (cfg store.ProviderConfig, created bool, err error) {
	p, err := Prepare(ctx, st, env, spec)
	if err != nil {
		return p.cfg, false, err
	}
	return p.Save(ctx, st, env)
}

// Prepared is a provider configuration Prepare checked and built, for Save to
// store.
type Prepared struct {
	cfg, old store.ProviderConfig
	created  bool
}

// Previous is the stored provider Prepare read, and whether there was none.
func (p Prepared) Previous() (old store.ProviderConfig, created bool) { return p.old, p.created }

// Prepare is Upsert's checking half: it reads the stored provider, turns spec
// into its configuration (a SAML metadata URL is fetched here), checks the
// issuer rules and builds it once. It writes nothing, so it belongs outside a
// transaction: on SQLite a write transaction would hold the write lock, and
// every sign-in with it, for as long as the fetch takes.
func Prepare(ctx context.Context, st Store, env Env, spec Spec) (Prepared, error) {
	p := Prepared{}
	old, err := st.Providers().Get(ctx, spec.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		p.created = true
	case err != nil:
		return p, err
	}
	p.old = old
	if p.cfg, err = env.configFromSpec(ctx, spec, old, p.created); err != nil {
		return p, err
	}
	if err := checkIssuer(ctx, st, p.cfg, old, p.created); err != nil {
		return p, err
	}
	if _, err := env.Build(p.cfg); err != nil {
		return p, err
	}
	return p, env.checkClientSecret(p.cfg)
}

// checkClientSecret refuses an enabled OIDC provider without a client secret
// (given now or kept from the stored configuration): Gatehouse signs in at the
// IdP's token endpoint as a confidential client (OIDC Core §9,
// client_secret_basic) and has no private-key authentication upstream, so no
// sign-in through it could work. The admin API, the console, the CLI and
// providers files all come through here, so they refuse it alike.
func (e Env) checkClientSecret(cfg store.ProviderConfig) error {
	if cfg.Kind != KindOIDC || !cfg.Enabled {
		return nil
	}
	s, err := OpenSecrets(e.Keyring, cfg)
	if err != nil || s.ClientSecret != "" {
		return err
	}
	return configErr(templates.M("client_secret is missing: Gatehouse signs in at the IdP as a confidential client and needs the secret the IdP issued (providers file and admin API: client_secret; command line: --client-secret-file), or the provider disabled"))
}

// Save is Upsert's storing half: it creates the provider, or updates it at the
// version Prepare read (store.ErrConflict if another edit came in between). The
// issuer rules are checked again against what is stored now; that reads only.
func (p Prepared) Save(ctx context.Context, st Store, env Env) (cfg store.ProviderConfig, created bool, err error) {
	cfg, old := p.cfg, p.old
	if err := checkIssuer(ctx, st, cfg, old, p.created); err != nil {
		return cfg, false, err
	}
	now := env.now()
	if p.created {
		cfg.CreatedAt, cfg.UpdatedAt = now, now
		if err := st.Providers().Create(ctx, cfg); err != nil {
			return cfg, false, err
		}
		cfg.Version = 1
		return cfg, true, nil
	}
	if unchanged(old, cfg) {
		return old, false, nil
	}
	cfg.Version, cfg.CreatedAt, cfg.UpdatedAt = old.Version, old.CreatedAt, now
	if err := st.Providers().Update(ctx, cfg); err != nil {
		return cfg, false, err
	}
	cfg.Version++
	return cfg, false, nil
}

func unchanged(a, b store.ProviderConfig) bool {
	return a.Kind == b.Kind && a.Name == b.Name && slices.Equal(a.Domains, b.Domains) && a.Enabled == b.Enabled &&
		a.TrustEmailLinking == b.TrustEmailLinking && bytes.Equal(a.Settings, b.Settings) && bytes.Equal(a.SecretsEnc, b.SecretsEnc)
}

func (e Env) configFromSpec(ctx context.Context, spec Spec, old store.ProviderConfig, created bool) (store.ProviderConfig, error) {
	cfg := store.ProviderConfig{ID: spec.ID, Kind: spec.Kind, Name: spec.Name, Enabled: true, TrustEmailLinking: spec.TrustEmailLinking}
	var errs []templates.Msg
	if !ValidID(spec.ID) {
		errs = append(errs, templates.M("id %q must be 1-63 lower-case letters, digits and dashes", spec.ID))
	}
	if spec.Name == "" {
		// The field as an argument: "name is required" is broker/registry's key, said of an API.
		errs = append(errs, templates.M("%s is required", "name"))
	}
	if spec.Enabled != nil {
		cfg.Enabled = *spec.Enabled
	}
	doms, err := NormalizeDomains(spec.Domains)
	if err != nil {
		errs = append(errs, Messages(err)...)
	}
	cfg.Domains = doms
	if !created && old.Kind != spec.Kind {
		errs = append(errs, templates.M("kind cannot change from %s to %s; remove the provider first", old.Kind, spec.Kind))
	}
	var secrets Secrets
	if !created {
		if secrets, err = OpenSecrets(e.Keyring, old); err != nil {
			// With its sentinel's text, as it always was.
			for _, m := range Messages(err) {
				errs = append(errs, templates.M("providers: provider configuration unusable: %s", m))
			}
		}
	}
	if len(errs) > 0 {
		return cfg, configErr(errs...)
	}
	switch spec.Kind {
	case KindOIDC:
		if spec.OIDC == nil {
			return cfg, configErr(templates.M("an oidc provider needs \"oidc\" settings"))
		}
		if spec.ClientSecret != "" {
			secrets.ClientSecret = spec.ClientSecret
		}
		if cfg.Settings, err = encode(spec.OIDC); err != nil {
			return cfg, err
		}
	case KindSAML:
		if spec.SAML == nil {
			return cfg, configErr(templates.M("a saml provider needs \"saml\" settings"))
		}
		s := *spec.SAML
		if err := e.samlMetadata(ctx, &s, old, created); err != nil {
			return cfg, err
		}
		if secrets.SPKeyPEM == "" {
			key, cert, err := NewSPKeyPair(spec.ID, e.now())
			if err != nil {
				return cfg, err
			}
			secrets.SPKeyPEM, s.SPCertificatePEM = key, cert
		} else {
			prev, _ := DecodeSAML(old.Settings)
			s.SPCertificatePEM = prev.SPCertificatePEM
		}
		if s.SignsRequests() {
			// The default is stored as absent, like every provider saved
			// before the setting existed, so saying it changes nothing.
			s.SignRequests = nil
		}
		if cfg.Settings, err = encode(s); err != nil {
			return cfg, err
		}
	default:
		return cfg, configErr(templates.M("kind must be oidc or saml, not %q", spec.Kind))
	}
	if !created && secrets == (Secrets{}) {
		return cfg, nil
	}
	if !created {
		if prev, err := OpenSecrets(e.Keyring, old); err == nil && prev == secrets {
			cfg.SecretsEnc = old.SecretsEnc // unchanged: keep the bytes, so the version stays too
			return cfg, nil
		}
	}
	cfg.SecretsEnc, err = SealSecrets(e.Keyring, spec.ID, secrets)
	return cfg, err
}

// samlMetadata fills s.MetadataXML: uploaded XML is checked; a URL is fetched.
// On an update whose URL cannot be fetched now, the stored copy is kept.
func (e Env) samlMetadata(ctx context.Context, s *SAMLSettings, old store.ProviderConfig, created bool) error {
	if s.MetadataXML != "" {
		s.MetadataURL = ""
		s.MetadataFetchedAt = time.Time{}
		return e.CheckMetadata([]byte(s.MetadataXML))
	}
	if s.MetadataURL == "" {
		return configErr(templates.M("a saml provider needs metadata_url or metadata_xml"))
	}
	prev, _ := DecodeSAML(old.Settings)
	body, err := e.FetchMetadata(ctx, s.MetadataURL)
	if err != nil {
		if created || prev.MetadataURL != s.MetadataURL || prev.MetadataXML == "" {
			return err
		}
		s.MetadataXML, s.MetadataFetchedAt = prev.MetadataXML, prev.MetadataFetchedAt
		return nil
	}
	if string(body) == prev.MetadataXML {
		s.MetadataXML, s.MetadataFetchedAt = prev.MetadataXML, prev.MetadataFetchedAt
		return nil
	}
	s.MetadataXML, s.MetadataFetchedAt = string(body), e.now().UTC()
	return nil
}
