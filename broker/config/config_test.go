package config

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite .env.example from the settings table")

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func key(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(b), 32)))
}

func TestDefaults(t *testing.T) {
	c, err := Load(Source{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer.String() != "http://localhost:8080" || c.ListenAddr != "127.0.0.1:8080" ||
		c.DatabaseURL != "sqlite:gatehouse.db" || c.SigningAlgorithm != "ES256" ||
		c.AuthCodeTTL != time.Minute || c.LogFormat != "json" || c.MaxConnections != 1024 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if err := c.RequireMasterKey(); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_MASTER_KEY") {
		t.Fatalf("serve without master key must be refused naming the setting, got %v", err)
	}
}

func TestPrecedence(t *testing.T) {
	src := Source{
		DotEnv:  map[string]string{"GATEHOUSE_LISTEN_ADDR": "127.0.0.1:1", "GATEHOUSE_LOG_LEVEL": "debug", "GATEHOUSE_LOG_FORMAT": "text"},
		Environ: env(map[string]string{"GATEHOUSE_LISTEN_ADDR": "127.0.0.1:2", "GATEHOUSE_LOG_LEVEL": "warn"}),
		Flags:   map[string]string{"GATEHOUSE_LISTEN_ADDR": "127.0.0.1:3"},
	}
	c, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:3" || c.LogLevel != "warn" || c.LogFormat != "text" {
		t.Fatalf("flags > environment > .env > default violated: %+v", c)
	}
}

func TestEveryProblemReportedAtOnce(t *testing.T) {
	_, err := Load(Source{Environ: env(map[string]string{
		"GATEHOUSE_ISSUER":        "not a url",
		"GATEHOUSE_MASTER_KEY":    base64.StdEncoding.EncodeToString([]byte("short")),
		"GATEHOUSE_DATABASE_URL":  "mysql://x",
		"GATEHOUSE_TLS_CERT_FILE": "/nonexistent/cert.pem",
	})})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	for _, want := range []string{"GATEHOUSE_ISSUER", "GATEHOUSE_MASTER_KEY: must decode to 32 bytes, got 5", `unknown database scheme "mysql"`, "GATEHOUSE_TLS_CERT_FILE: cannot read", "go together"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.key")
	os.WriteFile(loose, []byte(key('a')), 0o644)
	for _, tc := range []struct{ env, value, want string }{
		{"GATEHOUSE_ISSUER", "http://id.example.com", "must use https"},
		{"GATEHOUSE_ISSUER", "https://id.example.com/?x=1", "query"},
		{"GATEHOUSE_ISSUER", "/relative", "absolute URL"},
		{"GATEHOUSE_ISSUER", "ftp://id.example.com", "https"},
		{"GATEHOUSE_MASTER_KEY", "!!!", "base64"},
		{"GATEHOUSE_MASTER_KEY_FILE", filepath.Join(dir, "missing"), "cannot read"},
		{"GATEHOUSE_SESSION_KEYS", key('a') + ",bad", "key 2"},
		{"GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8,nope", `"nope" is not a CIDR`},
		{"GATEHOUSE_LISTEN_ADDR", "8080", "host:port"},
		{"GATEHOUSE_MTLS_LISTEN_ADDR", "8443", "host:port"},
		{"GATEHOUSE_MTLS_LISTEN_ADDR", ":8443", "needs GATEHOUSE_TLS_CERT_FILE"},
		{"GATEHOUSE_MTLS_CLIENT_CA_FILE", loose, "no PEM certificate"},
		{"GATEHOUSE_MTLS_CLIENT_CA_FILE", filepath.Join(dir, "missing"), "cannot read"},
		{"GATEHOUSE_SIGNING_ALG", "HS256", "not one of"},
		{"GATEHOUSE_AUTH_CODE_TTL", "1h", "at most 10m"},
		{"GATEHOUSE_ACCESS_TOKEN_TTL", "soon", "not a duration"},
		{"GATEHOUSE_DATABASE_URL", "sqlite:", "needs a file path"},
		{"GATEHOUSE_MAX_CONNECTIONS", "0", "positive"},
		{"GATEHOUSE_DB_MAX_CONNS", "0", "positive"},
		{"GATEHOUSE_DB_MAX_CONNS", "1", "at least 2"},
		{"GATEHOUSE_REQUEST_TIMEOUT", "1m", "at most 25s"},
		{"GATEHOUSE_AUDIT_FLUSH_INTERVAL", "1m", "at most 10s"},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			_, err := Load(Source{Environ: env(map[string]string{tc.env: tc.value})})
			if err == nil || !strings.Contains(err.Error(), tc.env) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want refusal naming %s and %q, got %v", tc.env, tc.want, err)
			}
		})
	}
}

// TestMTLSBaseURL: the mtls_endpoint_aliases (RFC 8705 §5) are on the issuer's host
// and path, over https, at the mTLS listener's port.
func TestMTLSBaseURL(t *testing.T) {
	iss, _ := url.Parse("https://id.example.com/gh")
	c := &Config{Issuer: iss}
	if c.MTLSBaseURL() != nil {
		t.Fatal("no listener, no aliases")
	}
	c.MTLSListenAddr = "0.0.0.0:8443"
	if got := c.MTLSBaseURL().String(); got != "https://id.example.com:8443/gh" {
		t.Fatalf("MTLSBaseURL = %s", got)
	}
	c.Issuer, _ = url.Parse("http://[::1]:8080")
	if got := c.MTLSBaseURL().String(); got != "https://[::1]:8443" {
		t.Fatalf("MTLSBaseURL = %s", got)
	}
}

func TestMasterKeys(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "master.key")
	if err := os.WriteFile(f, []byte(key('f')+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Source{Environ: env(map[string]string{
		"GATEHOUSE_MASTER_KEY_FILE":      f,
		"GATEHOUSE_PREVIOUS_MASTER_KEYS": key('p') + ", " + key('q'),
		"GATEHOUSE_ISSUER":               "https://id.example.com/",
		"GATEHOUSE_TRUSTED_PROXIES":      "10.0.0.0/8, 192.0.2.7",
	})})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.MasterKeys) != 3 || c.MasterKeys[0][0] != 'f' || c.MasterKeys[2][0] != 'q' {
		t.Fatalf("master keys out of order: %q", c.MasterKeys)
	}
	if c.Issuer.String() != "https://id.example.com" {
		t.Errorf("trailing slash kept: %s", c.Issuer)
	}
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "192.0.2.7/32" {
		t.Errorf("proxies: %v", c.TrustedProxies)
	}
	_, err = Load(Source{Environ: env(map[string]string{"GATEHOUSE_MASTER_KEY_FILE": f, "GATEHOUSE_MASTER_KEY": key('a')})})
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("both master key sources must be refused, got %v", err)
	}
}

func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	set := RegisterFlags(fs)
	if err := fs.Parse([]string{"--listen-addr", "127.0.0.1:9", "--log-format=text"}); err != nil {
		t.Fatal(err)
	}
	got := set()
	if len(got) != 2 || got["GATEHOUSE_LISTEN_ADDR"] != "127.0.0.1:9" || got["GATEHOUSE_LOG_FORMAT"] != "text" {
		t.Fatalf("flags: %v", got)
	}
}

func TestDotEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".env")
	os.WriteFile(p, []byte("# comment\n\nexport GATEHOUSE_LOG_LEVEL=debug\nGATEHOUSE_ISSUER=\"https://a.example\"\n"), 0o600)
	m, err := ReadDotEnv(p)
	if err != nil || m["GATEHOUSE_LOG_LEVEL"] != "debug" || m["GATEHOUSE_ISSUER"] != "https://a.example" {
		t.Fatalf("%v %v", m, err)
	}
	os.WriteFile(p, []byte("JUNK\n"), 0o600)
	if _, err := ReadDotEnv(p); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("want line-numbered error, got %v", err)
	}
	if m, err := ReadDotEnv(filepath.Join(t.TempDir(), "none")); err != nil || m != nil {
		t.Fatalf("missing .env must be fine: %v %v", m, err)
	}
}

// TestEnvExample keeps .env.example the documentation of every setting.
func TestEnvExample(t *testing.T) {
	path := filepath.Join("..", "..", ".env.example")
	if *update {
		if err := os.WriteFile(path, []byte(Example()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != Example() {
		t.Fatal(".env.example is out of date: go test ./broker/config -run TestEnvExample -update")
	}
}

func TestParseKey(t *testing.T) {
	good := key('k')
	for _, tc := range []struct{ name, in, want string }{
		{"valid", good, ""},
		{"valid with newline", good + "\n", ""},
		{"empty", "  ", "must decode to 32 bytes, got 0"},
		{"not base64", "this is not base64!!", "not valid standard base64"},
		{"url alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\xfb\xff", 16)))), "not valid standard base64"},
		{"missing padding", strings.TrimRight(good, "="), "not valid standard base64"},
		{"16 bytes", base64.StdEncoding.EncodeToString(make([]byte, 16)), "got 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKey(tc.in)
			if tc.want == "" {
				if err != nil || len(k) != 32 {
					t.Fatalf("%v %x", err, k)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if in := strings.TrimSpace(tc.in); in != "" && strings.Contains(err.Error(), in) {
				t.Errorf("error %q echoes the key", err)
			}
		})
	}
}

// TestDATA14_SecretFilesOwnerOnly: key files anyone else on the machine can read
// are refused at start.
func TestDATA14_SecretFilesOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	for _, setting := range []string{"GATEHOUSE_MASTER_KEY_FILE", "GATEHOUSE_TLS_KEY_FILE"} {
		for mode, ok := range map[os.FileMode]bool{0o600: true, 0o400: true, 0o640: false, 0o644: false, 0o604: false} {
			f := filepath.Join(dir, fmt.Sprintf("%s-%o", setting, mode))
			os.WriteFile(f, []byte(key('k')), 0o600)
			os.Chmod(f, mode)
			vars := map[string]string{setting: f}
			if setting == "GATEHOUSE_TLS_KEY_FILE" {
				vars["GATEHOUSE_TLS_CERT_FILE"] = f
			}
			_, err := Load(Source{Environ: env(vars)})
			if refused := err != nil && strings.Contains(err.Error(), "readable by group or others"); refused == ok {
				t.Errorf("%s with mode %o: %v", setting, mode, err)
			}
		}
	}
}

func TestAuditSpillPathDefaultsBesideTheData(t *testing.T) {
	for _, tc := range []struct{ db, spill, want string }{
		{"sqlite:/var/lib/gatehouse/gatehouse.db", "", "/var/lib/gatehouse/gatehouse.db.audit-spill"},
		{"postgres://db/gatehouse", "", "gatehouse-audit.spill"},
		{"postgres://db/gatehouse", "/var/lib/gatehouse/audit.spill", "/var/lib/gatehouse/audit.spill"},
	} {
		c, err := Load(Source{Environ: env(map[string]string{"GATEHOUSE_DATABASE_URL": tc.db, "GATEHOUSE_AUDIT_SPILL_FILE": tc.spill})})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.AuditSpillPath(); got != tc.want {
			t.Errorf("%s, %q: spill file %q, want %q", tc.db, tc.spill, got, tc.want)
		}
		if c.DBMaxConns != 20 || c.RequestTimeout != 15*time.Second || c.AuditFlushInterval != 100*time.Millisecond {
			t.Errorf("defaults: %d connections, %s request timeout, %s audit batch window", c.DBMaxConns, c.RequestTimeout, c.AuditFlushInterval)
		}
	}
}

// TestSecurityKeyPolicyNeedsADomain: a security-key policy is refused at an
// issuer whose host is an IP address, which cannot be a WebAuthn RP ID; at
// localhost or a domain it loads, and without a policy an IP issuer is fine.
func TestSecurityKeyPolicyNeedsADomain(t *testing.T) {
	for _, tc := range []struct {
		issuer, roles string
		ok            bool
	}{
		{"http://127.0.0.1:8080", "admin", false},
		{"https://[::1]:8443", "admin", false},
		{"http://localhost:8080", "admin", true},
		{"https://id.example.org", "admin", true},
		{"http://127.0.0.1:8080", "", true},
	} {
		_, err := Load(Source{Flags: map[string]string{"GATEHOUSE_ISSUER": tc.issuer, "GATEHOUSE_SECURITY_KEY_ROLES": tc.roles,
			"GATEHOUSE_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}})
		if (err == nil) != tc.ok {
			t.Errorf("%s with roles %q: %v", tc.issuer, tc.roles, err)
		}
	}
}
