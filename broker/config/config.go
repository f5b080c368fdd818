// Package config turns environment variables, an optional .env file and command-line
// flags into one typed, validated Config. Every setting is declared once in Settings,
// which also documents it (.env.example is checked against that table).
package config

import (
	"bufio"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/language"

	"github.com/gatehouse/gatehouse/providers/safehttp"
	"github.com/gatehouse/gatehouse/templates"
)

// Config is Gatehouse's whole configuration.
type Config struct {
	Issuer      *url.URL
	ListenAddr  string
	DatabaseURL string
	// DBMaxConns caps the PostgreSQL connections (GATEHOUSE_DB_MAX_CONNS): one
	// the audit writer's, the rest the requests' pool.
	DBMaxConns int
	// RequestTimeout bounds every request, its waits on the database included
	// (for a pooled connection and for answers): past it the request fails, with
	// 503 when the database does not answer (GATEHOUSE_REQUEST_TIMEOUT).
	RequestTimeout time.Duration
	// AuditFlushInterval is the audit batch window (GATEHOUSE_AUDIT_FLUSH_INTERVAL);
	// AuditSpillFile the local file for audit events the database refused, ""
	// for the default (AuditSpillPath).
	AuditFlushInterval time.Duration
	AuditSpillFile     string

	// MasterKeys: the first seals, all open (rotation). Empty only in demo mode,
	// which supplies its own.
	MasterKeys [][]byte
	// SessionKeys authenticate and encrypt browser cookies, newest first.
	SessionKeys [][]byte

	TLSCertFile    string
	TLSKeyFile     string
	TrustedProxies []netip.Prefix
	MaxConnections int
	// MTLSListenAddr is the second HTTPS listener that requests client
	// certificates for the OAuth endpoints (RFC 8705 §5 mtls_endpoint_aliases);
	// "" for none. MTLSClientCAs are the CAs of tls_client_auth (§2.1); nil for none.
	MTLSListenAddr string
	MTLSClientCAs  *x509.CertPool
	// UpstreamAllowedNetworks are the private and loopback networks where IdPs
	// may be reached (GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS).
	UpstreamAllowedNetworks safehttp.Networks

	SigningAlgorithm string
	KeyPublishDelay  time.Duration

	AccessTokenTTL     time.Duration
	IDTokenTTL         time.Duration
	RefreshTokenTTL    time.Duration
	AuthCodeTTL        time.Duration
	SessionIdleTimeout time.Duration
	SessionMaxAge      time.Duration
	// AdminMaxAge is how old an admin's sign-in may be for the console
	// (SECURITY.md ADM-05); older, they sign in again upstream.
	AdminMaxAge time.Duration
	// SecurityKeyRoles and SecurityKeyProviders are the security-key policy
	// (issue 15): a person with one of these roles, or signed in at one of
	// these providers, must also use a security key or passkey.
	SecurityKeyRoles     []string
	SecurityKeyProviders []string
	// WebAuthnUserVerification is asked of authenticators (WebAuthn L2
	// §5.8.6): required, preferred or discouraged.
	WebAuthnUserVerification string
	// WebAuthnAttestation is the attestation conveyance asked at registration
	// (WebAuthn L2 §5.4.7): none, indirect or direct.
	WebAuthnAttestation string

	LogLevel  string
	LogFormat string

	// OAuthRatePerClient and OAuthRatePerIP are requests per second (burst twice that)
	// at the token, introspection and revocation endpoints; 0 switches a limit off.
	OAuthRatePerClient int
	OAuthRatePerIP     int
	// ExchangeMaxActorDepth bounds the act chain of a token from token exchange
	// (RFC 8693 §4.1): how many services may have acted in turn.
	ExchangeMaxActorDepth int
	// DPoPNonceRequired makes the token endpoint and UserInfo demand a server
	// nonce in every DPoP proof (RFC 9449 §8, §9).
	DPoPNonceRequired bool
	// ProvidersFile is a JSON file of identity providers serve upserts at start.
	ProvidersFile string
	// Brand is how the pages look and what they call the service; zero is
	// Gatehouse's own look.
	Brand Brand
	// DefaultLocale is the page language when neither the person, the
	// application (ui_locales) nor the browser (Accept-Language) picks one
	// Gatehouse has (templates.Locales).
	DefaultLocale language.Tag
}

// Brand is the organisation's name, logo, colours and support contact on every
// page (issue 13). Colours are #rrggbb only, so nothing can be injected into the
// CSS built from them.
type Brand struct {
	Name    string
	LogoURL string // https only (SECURITY.md WEB-17)
	// Color and ColorDark are the primary colour in the light and the dark
	// scheme; "" keeps Gatehouse's for that scheme.
	Color, ColorDark string
	// Support is an email address or an https URL.
	Support string
}

// Setting declares one configuration variable.
type Setting struct {
	Env     string // GATEHOUSE_…
	Default string
	Help    string
	// Secret settings are never flags: command lines are visible to every local user.
	Secret bool
	apply  func(c *Config, v string) error
}

// Flag is the command-line flag that overrides the setting: GATEHOUSE_LISTEN_ADDR → listen-addr.
func (s Setting) Flag() string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.Env, "GATEHOUSE_")), "_", "-")
}

// Settings lists every setting in the order .env.example documents them.
var Settings = []Setting{
	{Env: "GATEHOUSE_ISSUER", Default: "http://localhost:8080",
		Help: "Public base URL of Gatehouse; the OAuth/OIDC issuer identifier. https is required unless the host is loopback.",
		apply: func(c *Config, v string) error {
			u, err := parseIssuer(v)
			c.Issuer = u
			return err
		}},
	{Env: "GATEHOUSE_LISTEN_ADDR", Default: "127.0.0.1:8080",
		Help: "Address to listen on (host:port). Use :8080 to listen on every interface.",
		apply: func(c *Config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("must be host:port, like 127.0.0.1:8080")
			}
			c.ListenAddr = v
			return nil
		}},
	{Env: "GATEHOUSE_DATABASE_URL", Default: "sqlite:gatehouse.db",
		Help: "Database: sqlite:PATH (embedded, single instance) or postgres://user:pass@host/db (several replicas).",
		apply: func(c *Config, v string) error {
			if !strings.HasPrefix(v, "sqlite:") && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
				scheme, _, _ := strings.Cut(v, ":")
				return fmt.Errorf("unknown database scheme %q: use sqlite:PATH or postgres://…", scheme)
			}
			if v == "sqlite:" {
				return errors.New("sqlite: needs a file path, like sqlite:gatehouse.db")
			}
			c.DatabaseURL = v
			return nil
		}},
	{Env: "GATEHOUSE_DB_MAX_CONNS", Default: "20",
		Help: "Most connections to PostgreSQL one replica opens, at least 2: one is the audit log's batch writer's alone, so its batches never wait behind requests; the others are the requests' (and the sweep's), and a request that finds them all busy waits for one within GATEHOUSE_REQUEST_TIMEOUT. Keep replicas × this under the server's max_connections. (SQLite: not used.)",
		apply: func(c *Config, v string) error {
			if err := positiveInt(&c.DBMaxConns, v); err != nil {
				return err
			}
			if c.DBMaxConns < 2 {
				return errors.New("at least 2: one connection is the audit writer's, the rest the requests'")
			}
			return nil
		}},
	{Env: "GATEHOUSE_REQUEST_TIMEOUT", Default: "15s",
		Help: "Longest a request may take, waiting for a database connection and its answers included; then it fails, with 503 if the database does not answer. 1s to 25s (under the 30 s write timeout, so the answer still reaches the client).",
		apply: func(c *Config, v string) error {
			if err := duration(&c.RequestTimeout, v, time.Second); err != nil {
				return err
			}
			if c.RequestTimeout > 25*time.Second {
				return errors.New("at most 25s (the write timeout is 30s)")
			}
			return nil
		}},
	{Env: "GATEHOUSE_AUDIT_FLUSH_INTERVAL", Default: "100ms",
		Help: "Flush interval of the audit log: issuance events wait at most this long in memory before they are written together, on a connection of their own. A kill -9 loses at most the events of this interval and of the batch write under way (see README, Audit durability). 1ms to 10s.",
		apply: func(c *Config, v string) error {
			if err := duration(&c.AuditFlushInterval, v, time.Millisecond); err != nil {
				return err
			}
			if c.AuditFlushInterval > 10*time.Second {
				return errors.New("at most 10s")
			}
			return nil
		}},
	{Env: "GATEHOUSE_AUDIT_SPILL_FILE", Default: "",
		Help:  "Local file (mode 0600) for audit events the database could not take while it was down, written to the database when it is back and at start. One per replica. Default: beside the SQLite database (PATH.audit-spill), or gatehouse-audit.spill in the working directory with PostgreSQL.",
		apply: func(c *Config, v string) error { c.AuditSpillFile = v; return nil }},
	{Env: "GATEHOUSE_MASTER_KEY", Default: "",
		Help:   "32 random bytes, standard base64 (head -c32 /dev/urandom | base64). Encrypts signing keys and secrets at rest. Required by serve.",
		Secret: true,
		apply: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			k, err := ParseKey(v)
			if err != nil {
				return err
			}
			c.MasterKeys = append([][]byte{k}, c.MasterKeys...)
			return nil
		}},
	{Env: "GATEHOUSE_MASTER_KEY_FILE", Default: "",
		Help: "File holding the master key (base64) instead of GATEHOUSE_MASTER_KEY; must not be readable by group or others.",
		apply: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			if len(c.MasterKeys) > 0 {
				return errors.New("set GATEHOUSE_MASTER_KEY or GATEHOUSE_MASTER_KEY_FILE, not both")
			}
			k, err := ReadKeyFile(v)
			if err != nil {
				return err
			}
			c.MasterKeys = [][]byte{k}
			return nil
		}},
	{Env: "GATEHOUSE_PREVIOUS_MASTER_KEYS", Default: "",
		Help:   "Comma-separated older master keys (base64), still accepted for decryption while secrets are re-encrypted.",
		Secret: true,
		apply: func(c *Config, v string) error {
			keys, err := parseKeyList(v)
			c.MasterKeys = append(c.MasterKeys, keys...)
			return err
		}},
	{Env: "GATEHOUSE_SESSION_KEYS", Default: "",
		Help:   "Comma-separated cookie keys (32 bytes, base64), newest first; older ones still open existing cookies. Default: derived from the master key.",
		Secret: true,
		apply: func(c *Config, v string) (err error) {
			c.SessionKeys, err = parseKeyList(v)
			return err
		}},
	{Env: "GATEHOUSE_TLS_CERT_FILE", Default: "",
		Help:  "PEM certificate chain; with GATEHOUSE_TLS_KEY_FILE Gatehouse serves HTTPS itself.",
		apply: func(c *Config, v string) error { c.TLSCertFile = v; return readable(v) }},
	{Env: "GATEHOUSE_TLS_KEY_FILE", Default: "",
		Help: "PEM private key for GATEHOUSE_TLS_CERT_FILE.",
		apply: func(c *Config, v string) error {
			c.TLSKeyFile = v
			if v == "" {
				return nil
			}
			return ownerOnly(v)
		}},
	{Env: "GATEHOUSE_MTLS_LISTEN_ADDR", Default: "",
		Help: "Address (host:port) of a second HTTPS listener, with GATEHOUSE_TLS_CERT_FILE/KEY, that asks apps for a TLS client certificate (RFC 8705) and serves the OAuth endpoints only; discovery advertises it as mtls_endpoint_aliases on the issuer's host. Empty: none (the main listener never asks for certificates).",
		apply: func(c *Config, v string) error {
			c.MTLSListenAddr = v
			if v == "" {
				return nil
			}
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("must be host:port, like :8443")
			}
			return nil
		}},
	{Env: "GATEHOUSE_MTLS_CLIENT_CA_FILE", Default: "",
		Help: "PEM file of the CAs whose client certificates apps registered with tls_client_auth may use (RFC 8705 §2.1). Empty: no tls_client_auth (self_signed_tls_client_auth needs no CA).",
		apply: func(c *Config, v string) error {
			c.MTLSClientCAs = nil
			if v == "" {
				return nil
			}
			b, err := os.ReadFile(v)
			if err != nil {
				return fmt.Errorf("cannot read %s: %w", v, errors.Unwrap(err))
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(b) {
				return fmt.Errorf("%s holds no PEM certificate", v)
			}
			c.MTLSClientCAs = pool
			return nil
		}},
	{Env: "GATEHOUSE_TRUSTED_PROXIES", Default: "",
		Help: "Comma-separated CIDRs of reverse proxies whose X-Forwarded-For/-Proto and RFC 9440 Client-Cert headers are believed; empty trusts none.",
		apply: func(c *Config, v string) error {
			c.TrustedProxies = nil
			for _, s := range splitList(v) {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					if a, aerr := netip.ParseAddr(s); aerr == nil {
						p = netip.PrefixFrom(a, a.BitLen())
					} else {
						return fmt.Errorf("%q is not a CIDR like 10.0.0.0/8", s)
					}
				}
				c.TrustedProxies = append(c.TrustedProxies, p.Masked())
			}
			return nil
		}},
	{Env: "GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS", Default: "",
		Help: "Comma-separated CIDRs and host names of identity providers on your own network: an IdP URL whose host is (or resolves to) a private or loopback address is refused unless listed; plain http only to a listed loopback host; link-local and cloud metadata addresses always refused. Empty: public https IdPs only.",
		apply: func(c *Config, v string) (err error) {
			c.UpstreamAllowedNetworks, err = safehttp.ParseNetworks(v)
			return err
		}},
	{Env: "GATEHOUSE_MAX_CONNECTIONS", Default: "1024",
		Help:  "Most simultaneous client connections; more wait in the kernel backlog, so health checks stay answerable.",
		apply: func(c *Config, v string) error { return positiveInt(&c.MaxConnections, v) }},
	{Env: "GATEHOUSE_SIGNING_ALG", Default: "ES256",
		Help: "Algorithm of new token-signing keys: ES256, RS256 or EdDSA.",
		apply: func(c *Config, v string) error {
			switch v {
			case "ES256", "RS256", "EdDSA":
				c.SigningAlgorithm = v
				return nil
			}
			return fmt.Errorf("%q is not one of ES256, RS256, EdDSA", v)
		}},
	{Env: "GATEHOUSE_KEY_PUBLISH_DELAY", Default: "1h",
		Help:  "How long a rotated-in key is published in JWKS before it signs, so every cache has it.",
		apply: func(c *Config, v string) error { return duration(&c.KeyPublishDelay, v, time.Minute) }},
	{Env: "GATEHOUSE_ACCESS_TOKEN_TTL", Default: "10m",
		Help:  "Default access-token lifetime (clients may be given their own).",
		apply: func(c *Config, v string) error { return duration(&c.AccessTokenTTL, v, time.Second) }},
	{Env: "GATEHOUSE_ID_TOKEN_TTL", Default: "10m",
		Help:  "ID-token lifetime.",
		apply: func(c *Config, v string) error { return duration(&c.IDTokenTTL, v, time.Second) }},
	{Env: "GATEHOUSE_REFRESH_TOKEN_TTL", Default: "720h",
		Help:  "Default refresh-token lifetime; each rotation issues a new token with the family's remaining lifetime.",
		apply: func(c *Config, v string) error { return duration(&c.RefreshTokenTTL, v, time.Second) }},
	{Env: "GATEHOUSE_AUTH_CODE_TTL", Default: "60s",
		Help:  "Authorization-code lifetime (RFC 6749 §4.1.2 recommends at most 10 minutes).",
		apply: func(c *Config, v string) error { return duration(&c.AuthCodeTTL, v, time.Second) }},
	{Env: "GATEHOUSE_SESSION_IDLE_TIMEOUT", Default: "1h",
		Help:  "A browser session unused for this long ends.",
		apply: func(c *Config, v string) error { return duration(&c.SessionIdleTimeout, v, time.Minute) }},
	{Env: "GATEHOUSE_SESSION_MAX_AGE", Default: "12h",
		Help:  "A browser session ends this long after sign-in, however active.",
		apply: func(c *Config, v string) error { return duration(&c.SessionMaxAge, v, time.Minute) }},
	{Env: "GATEHOUSE_ADMIN_MAX_AGE", Default: "15m",
		Help:  "The admin console needs a sign-in at most this old; an older one signs in again at the provider (prompt=login / ForceAuthn).",
		apply: func(c *Config, v string) error { return duration(&c.AdminMaxAge, v, time.Minute) }},
	{Env: "GATEHOUSE_SECURITY_KEY_ROLES", Default: "",
		Help:  "Comma-separated roles (e.g. admin) whose people must also use a security key or passkey after the upstream sign-in, for the admin console and every app. Empty: none.",
		apply: func(c *Config, v string) error { c.SecurityKeyRoles = splitList(v); return nil }},
	{Env: "GATEHOUSE_SECURITY_KEY_PROVIDERS", Default: "",
		Help:  "Comma-separated provider IDs whose sign-ins must be followed by a security key or passkey. Empty: none.",
		apply: func(c *Config, v string) error { c.SecurityKeyProviders = splitList(v); return nil }},
	{Env: "GATEHOUSE_WEBAUTHN_USER_VERIFICATION", Default: "preferred",
		Help: "User verification asked of security keys and passkeys (a PIN or biometric; WebAuthn userVerification): required, preferred or discouraged.",
		apply: func(c *Config, v string) error {
			return oneOf(&c.WebAuthnUserVerification, v, "required", "preferred", "discouraged")
		}},
	{Env: "GATEHOUSE_WEBAUTHN_ATTESTATION", Default: "none",
		Help:  "Attestation asked when a security key is registered (WebAuthn attestation conveyance): none, indirect or direct.",
		apply: func(c *Config, v string) error { return oneOf(&c.WebAuthnAttestation, v, "none", "indirect", "direct") }},
	{Env: "GATEHOUSE_OAUTH_RATE_PER_CLIENT", Default: "1000",
		Help:  "Requests per second one client_id may make to the token, introspection and revocation endpoints (burst: twice that; a failed client authentication counts 100); 0 disables.",
		apply: func(c *Config, v string) error { return nonNegativeInt(&c.OAuthRatePerClient, v) }},
	{Env: "GATEHOUSE_OAUTH_RATE_PER_IP", Default: "2000",
		Help:  "Requests per second one client IP address may make to those endpoints (burst: twice that; a failed client authentication counts 100); 0 disables.",
		apply: func(c *Config, v string) error { return nonNegativeInt(&c.OAuthRatePerIP, v) }},
	{Env: "GATEHOUSE_EXCHANGE_MAX_ACTOR_DEPTH", Default: "4",
		Help:  "Longest chain of services acting for a person (RFC 8693 act, nested) a token exchange issues; one more is refused.",
		apply: func(c *Config, v string) error { return positiveInt(&c.ExchangeMaxActorDepth, v) }},
	{Env: "GATEHOUSE_DPOP_NONCE", Default: "off",
		Help: "off or required: whether DPoP proofs at the token endpoint and UserInfo must carry a server nonce (RFC 9449 §8; use_dpop_nonce and a DPoP-Nonce header give it). Nonces are stateless: any replica accepts them for 5 to 10 minutes.",
		apply: func(c *Config, v string) error {
			switch v {
			case "off":
				c.DPoPNonceRequired = false
			case "required":
				c.DPoPNonceRequired = true
			default:
				return fmt.Errorf("must be off or required")
			}
			return nil
		}},
	{Env: "GATEHOUSE_PROVIDERS_FILE", Default: "",
		Help:  "JSON or YAML file of identity providers (see 'gatehouse providers --help') that serve creates or updates by ID at start; providers not in it are left alone.",
		apply: func(c *Config, v string) error { c.ProvidersFile = v; return readable(v) }},
	{Env: "GATEHOUSE_BRAND_NAME", Default: "",
		Help: "The service's name on every page (the title, the header, the footer); empty means Gatehouse.",
		apply: func(c *Config, v string) error {
			if len([]rune(v)) > 60 || strings.ContainsFunc(v, unicode.IsControl) {
				return fmt.Errorf("must be at most 60 characters, without control characters")
			}
			c.Brand.Name = strings.TrimSpace(v)
			return nil
		}},
	{Env: "GATEHOUSE_BRAND_LOGO_URL", Default: "",
		Help: "https URL of the logo shown beside the name in the page header (about 28 px high); empty means Gatehouse's.",
		apply: func(c *Config, v string) error {
			if v != "" && !isHTTPSURL(v) {
				return fmt.Errorf("must be an https URL")
			}
			c.Brand.LogoURL = v
			return nil
		}},
	{Env: "GATEHOUSE_BRAND_COLOR", Default: "",
		Help:  "Primary colour (links, buttons) as #rrggbb; it must have at least 4.5:1 contrast against white (WCAG 1.4.3). Empty keeps Gatehouse's blue.",
		apply: func(c *Config, v string) error { return brandColor(&c.Brand.Color, v, "#ffffff", "white") }},
	{Env: "GATEHOUSE_BRAND_COLOR_DARK", Default: "",
		Help: "Primary colour in the dark colour scheme as #rrggbb; it must have at least 4.5:1 contrast against the dark background #171c23. Empty keeps Gatehouse's.",
		apply: func(c *Config, v string) error {
			return brandColor(&c.Brand.ColorDark, v, "#171c23", "the dark background #171c23")
		}},
	{Env: "GATEHOUSE_SUPPORT_CONTACT", Default: "",
		Help: "Where people get help, shown in every page's footer: an email address or an https URL. Empty shows none.",
		apply: func(c *Config, v string) error {
			if v != "" && !isHTTPSURL(v) {
				if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
					return fmt.Errorf("must be an email address or an https URL")
				}
			}
			c.Brand.Support = v
			return nil
		}},
	{Env: "GATEHOUSE_DEFAULT_LOCALE", Default: "en",
		Help: "Language of the pages when neither ui_locales nor the browser's Accept-Language names one Gatehouse has: en (English) or cy (Welsh).",
		apply: func(c *Config, v string) error {
			t, err := language.Parse(v)
			if err != nil || !templates.Supported(t) {
				return fmt.Errorf("must be one of %s", strings.Join(localeNames(), ", "))
			}
			c.DefaultLocale = t
			return nil
		}},
	{Env: "GATEHOUSE_LOG_LEVEL", Default: "info",
		Help: "debug, info, warn or error.",
		apply: func(c *Config, v string) error {
			switch v {
			case "debug", "info", "warn", "error":
				c.LogLevel = v
				return nil
			}
			return fmt.Errorf("%q is not one of debug, info, warn, error", v)
		}},
	{Env: "GATEHOUSE_LOG_FORMAT", Default: "json",
		Help: "json (for log collectors) or text (for people).",
		apply: func(c *Config, v string) error {
			if v != "json" && v != "text" {
				return fmt.Errorf("%q is not json or text", v)
			}
			c.LogFormat = v
			return nil
		}},
}

// Source is where setting values come from, lowest precedence first: defaults, the
// .env file, the environment, then flags.
type Source struct {
	DotEnv  map[string]string
	Environ func(string) (string, bool)
	Flags   map[string]string // by Env name; only flags the user set
}

// Load builds a Config from src and validates it. The error lists every problem,
// one per line, each naming its setting.
func Load(src Source) (*Config, error) {
	c := &Config{}
	var problems []string
	for _, s := range Settings {
		v := s.Default
		if dv, ok := src.DotEnv[s.Env]; ok {
			v = dv
		}
		if src.Environ != nil {
			if ev, ok := src.Environ(s.Env); ok {
				v = ev
			}
		}
		if fv, ok := src.Flags[s.Env]; ok {
			v = fv
		}
		if err := s.apply(c, strings.TrimSpace(v)); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", s.Env, err))
		}
	}
	problems = append(problems, c.validate()...)
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

// Error reports every configuration problem at once.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

// validate checks rules that span settings.
func (c *Config) validate() []string {
	var p []string
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		p = append(p, "GATEHOUSE_TLS_CERT_FILE and GATEHOUSE_TLS_KEY_FILE go together: set both or neither")
	}
	if c.MTLSListenAddr != "" && !c.TLS() {
		p = append(p, "GATEHOUSE_MTLS_LISTEN_ADDR needs GATEHOUSE_TLS_CERT_FILE and GATEHOUSE_TLS_KEY_FILE: the mTLS listener terminates TLS itself")
	}
	if c.AuthCodeTTL > 10*time.Minute {
		p = append(p, "GATEHOUSE_AUTH_CODE_TTL: at most 10m (RFC 6749 §4.1.2)")
	}
	if c.SessionIdleTimeout > c.SessionMaxAge && c.SessionMaxAge > 0 {
		p = append(p, "GATEHOUSE_SESSION_IDLE_TIMEOUT: cannot exceed GATEHOUSE_SESSION_MAX_AGE")
	}
	if (len(c.SecurityKeyRoles) > 0 || len(c.SecurityKeyProviders) > 0) && !c.WebAuthnAvailable() {
		p = append(p, "GATEHOUSE_SECURITY_KEY_ROLES, GATEHOUSE_SECURITY_KEY_PROVIDERS: security keys need GATEHOUSE_ISSUER's host to be a domain name such as localhost, not an IP address (WebAuthn RP ID)")
	}
	return p
}

// WebAuthnAvailable reports whether people can use security keys here: the
// WebAuthn relying party ID is the issuer's host, which must be a domain,
// never an IP address (WebAuthn L2 §5.1.3 step 8, "valid domain").
func (c *Config) WebAuthnAvailable() bool {
	return c.Issuer != nil && c.Issuer.Hostname() != "" && net.ParseIP(c.Issuer.Hostname()) == nil
}

// RequireMasterKey is what serve checks: outside the demo a master key is mandatory.
func (c *Config) RequireMasterKey() error {
	if len(c.MasterKeys) == 0 {
		return &Error{Problems: []string{"GATEHOUSE_MASTER_KEY: required (32 random bytes, base64: head -c32 /dev/urandom | base64), or GATEHOUSE_MASTER_KEY_FILE"}}
	}
	return nil
}

// AuditSpillPath is GATEHOUSE_AUDIT_SPILL_FILE, or its default: beside the SQLite
// database file (the data directory), or in the working directory with PostgreSQL.
func (c *Config) AuditSpillPath() string {
	if c.AuditSpillFile != "" {
		return c.AuditSpillFile
	}
	if path, ok := strings.CutPrefix(c.DatabaseURL, "sqlite:"); ok {
		return path + ".audit-spill"
	}
	return "gatehouse-audit.spill"
}

// TLS reports whether Gatehouse terminates TLS itself.
func (c *Config) TLS() bool { return c.TLSCertFile != "" }

// MTLSBaseURL is the public base URL of the mTLS listener (RFC 8705 §5): the
// issuer's, with https and the listener's port; nil when there is no listener.
func (c *Config) MTLSBaseURL() *url.URL {
	if c.MTLSListenAddr == "" || c.Issuer == nil {
		return nil
	}
	_, port, _ := net.SplitHostPort(c.MTLSListenAddr)
	u := *c.Issuer
	u.Scheme = "https"
	u.Host = net.JoinHostPort(c.Issuer.Hostname(), port)
	return &u
}

// Environ adapts os.LookupEnv.
func Environ(name string) (string, bool) { return os.LookupEnv(name) }

// RegisterFlags defines one string flag per setting on fs; after fs.Parse, Set
// returns the ones the user gave.
func RegisterFlags(fs *flag.FlagSet) (set func() map[string]string) {
	vals := map[string]*string{}
	for _, s := range Settings {
		if s.Secret {
			continue
		}
		usage := s.Help
		if s.Default != "" {
			usage += " (default " + s.Default + ")"
		}
		vals[s.Env] = fs.String(s.Flag(), "", usage+" [$"+s.Env+"]")
	}
	return func() map[string]string {
		out := map[string]string{}
		fs.Visit(func(f *flag.Flag) {
			for _, s := range Settings {
				if s.Flag() == f.Name {
					out[s.Env] = *vals[s.Env]
				}
			}
		})
		return out
	}
}

// ReadDotEnv reads KEY=VALUE lines from path; a missing file is not an error.
// Values may be wrapped in single or double quotes; # starts a comment line.
func ReadDotEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: expected KEY=VALUE", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, sc.Err()
}

// ParseKey decodes a 32-byte key from standard base64.
func ParseKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("not valid standard base64")
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("must decode to 32 bytes, got %d", len(k))
	}
	return k, nil
}

// ReadKeyFile reads a base64 key from a file that only its owner can read.
func ReadKeyFile(path string) ([]byte, error) {
	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func parseIssuer(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute URL like https://id.example.com", v)
	}
	// OIDC Discovery §3 / RFC 8414 §2: https, no query or fragment.
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q must not have a query, fragment or user info", v)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("%q must use https (http is allowed only on localhost)", v)
		}
	default:
		return nil, fmt.Errorf("%q must be an https URL", v)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

func parseKeyList(v string) ([][]byte, error) {
	var keys [][]byte
	for i, s := range splitList(v) {
		k, err := ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// oneOf sets *dst to v if v is one of allowed.
func oneOf(dst *string, v string, allowed ...string) error {
	if !slices.Contains(allowed, v) {
		return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	*dst = v
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// ownerOnly refuses a secret file that group or others may read (DATA-14): a key
// anyone on the machine can read is no longer a secret.
func ownerOnly(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is readable by group or others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	return readable(path)
}

func readable(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	return f.Close()
}

func duration(dst *time.Duration, v string, minimum time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration like 10m or 1h30m", v)
	}
	if d < minimum || d < 0 {
		return fmt.Errorf("%s is shorter than the minimum %s", d, minimum)
	}
	*dst = d
	return nil
}

func positiveInt(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a positive whole number", v)
	}
	*dst = n
	return nil
}

func nonNegativeInt(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a whole number ≥ 0", v)
	}
	*dst = n
	return nil
}

func localeNames() []string {
	var out []string
	for _, t := range templates.Locales() {
		out = append(out, t.String())
	}
	return out
}
