package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store/pgtest"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
)

// TestMain stops the throwaway PostgreSQL cluster a test may start. Run with
// runAsGatehouse=1 in its environment, the test binary is the gatehouse command
// itself (its arguments are the command's): a script a test runs calls it as
// "gatehouse" (admin_readme_test.go).
func TestMain(m *testing.M) {
	if os.Getenv(runAsGatehouse) == "1" {
		os.Args = append([]string{"gatehouse"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	pgtest.Main(m)
}

const runAsGatehouse = "RUN_TEST_BINARY_AS_GATEHOUSE"

// backends are the two databases Gatehouse runs on, each with a way to dump every
// byte it stores.
func backends(t *testing.T) map[string]struct {
	url  string
	dump func(t *testing.T) []byte
} {
	sqlitePath := filepath.Join(t.TempDir(), "gatehouse.db")
	pgURL := pgtest.URL(t)
	return map[string]struct {
		url  string
		dump func(t *testing.T) []byte
	}{
		"sqlite": {"sqlite:" + sqlitePath, func(t *testing.T) []byte {
			// The database file and its write-ahead log hold everything SQLite stored.
			var all []byte
			for _, suffix := range []string{"", "-wal"} {
				b, err := os.ReadFile(sqlitePath + suffix)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				all = append(all, b...)
			}
			return all
		}},
		"postgres": {pgURL, func(t *testing.T) []byte { return dumpPostgres(t, pgURL) }},
	}
}

// dumpPostgres renders every row of every table as JSON text (bytea as hex), the
// way a logical backup would expose it.
func dumpPostgres(t *testing.T, url string) []byte {
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	var out bytes.Buffer
	for _, table := range tables {
		rows, err := db.Query(`SELECT row_to_json(t)::text FROM "` + table + `" t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			rows.Scan(&line)
			out.WriteString(line + "\n")
		}
		rows.Close()
	}
	if !strings.Contains(out.String(), `"state":"active"`) {
		t.Fatalf("the dump does not contain the signing keys table:\n%.500s", out.String())
	}
	return out.Bytes()
}

// TestDATA01_SigningKeysAtRest: a dump of either database reveals no private signing
// key, in any encoding, and the keys open only with the master key.
func TestDATA01_SigningKeysAtRest(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{"GATEHOUSE_DATABASE_URL": b.url, "GATEHOUSE_MASTER_KEY": masterKeyA}
			// An active and a next key, each of ES256 and of RS256 (for ID tokens).
			if out, err := runCommand(t, vars, "keys", "rotate"); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			secrets := privateMaterial(t, b.url)
			if len(secrets) != 8 {
				t.Fatalf("want 4 keys, got %d", len(secrets)/2)
			}
			dump := b.dump(t)
			if bytes.Contains(dump, []byte("PRIVATE KEY")) {
				t.Error("the dump contains a PEM private key")
			}
			for _, d := range secrets {
				for enc, needle := range map[string][]byte{
					"raw":       d,
					"hex":       []byte(hex.EncodeToString(d)),
					"base64":    []byte(base64.StdEncoding.EncodeToString(d)),
					"base64url": []byte(base64.RawURLEncoding.EncodeToString(d)), // a JWK "d"
				} {
					if bytes.Contains(dump, needle) {
						t.Errorf("the dump contains a private key (%s)", enc)
					}
				}
			}
		})
	}
}

// privateMaterial opens the stored signing keys with the master key, as only
// Gatehouse can, and returns each key's private scalar (ECDSA) or exponent (RSA) and
// its PKCS #8 encoding.
func privateMaterial(t *testing.T, url string) [][]byte {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ks, err := db.SigningKeys().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := config.ParseKey(masterKeyA)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := seal.NewKeyring(mk)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, k := range ks {
		der, err := ring.Open(k.PrivateEnc, []byte(k.ID))
		if err != nil {
			t.Fatalf("key %s does not open with the master key: %v", k.ID, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		var d []byte
		switch priv := priv.(type) {
		case *ecdsa.PrivateKey:
			if d, err = priv.Bytes(); err != nil {
				t.Fatal(err)
			}
		case *rsa.PrivateKey:
			d = priv.D.Bytes()
		default:
			t.Fatalf("key %s is %T, want ECDSA (the ES256 default) or RSA (RS256 for ID tokens)", k.ID, priv)
		}
		out = append(out, d, der)
	}
	return out
}

func TestServeOnPostgres(t *testing.T) {
	vars := baseVars(t)
	vars["GATEHOUSE_DATABASE_URL"] = pgtest.URL(t)
	// Not the default in the working directory: this test's own.
	vars["GATEHOUSE_AUDIT_SPILL_FILE"] = filepath.Join(t.TempDir(), "audit.spill")
	g := start(t, vars, "serve")
	if code, body := get(t, g.url+"/readyz"); code != 200 || !strings.Contains(body, `"database":"ok"`) {
		t.Fatalf("readyz on PostgreSQL: %d %s", code, body)
	}
	_, jwks := get(t, g.url+"/oauth2/jwks")
	g.stop()
	// A second replica on the same database serves the same key.
	g = start(t, vars, "serve")
	_, again := get(t, g.url+"/oauth2/jwks")
	if k1, k2 := kids(t, jwks), kids(t, again); len(k1) != 2 || !slices.Equal(k1, k2) {
		t.Fatalf("replicas disagree on keys: %v %v", k1, k2)
	}
}
