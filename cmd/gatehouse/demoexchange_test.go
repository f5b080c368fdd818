//go:build demo

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/safehttp"
)

// TestDemoMintsExchangeableTokens: the demo IdPs' /demo/mint tokens are ones
// Gatehouse's demo providers accept for exchange (an ID token for the exchange
// audience "demo-cli"; a bearer assertion for the token endpoint), and the demo
// writes exchange.env (0600) with working, freshly rotated service secrets.
func TestDemoMintsExchangeableTokens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo-data")
	env, _, _ := testEnv(nil)
	addr, stop := startDemo(t, env, dir)
	vars := readExchangeEnv(t, dir)
	_, port, _ := net.SplitHostPort(addr)
	issuer := "http://localhost:" + port
	if vars["GATEHOUSE"] != issuer || vars["NOTES_API"] != demoAPIAudience || vars["REPORTS_API"] != demoReportsAudience {
		t.Errorf("exchange.env URLs: %v", vars)
	}
	for _, c := range []string{"SERVICE", "REPORTS"} {
		if code, body := clientCredentials(t, issuer, vars[c+"_ID"], vars[c+"_SECRET"]); code != 200 {
			t.Errorf("%s's secret from exchange.env: %d %s", vars[c+"_ID"], code, body)
		}
	}

	built := demoProviders(t, dir, issuer)
	tokenURL := issuer + "/oauth2/token"
	for _, tc := range []struct{ provider, mintAt, user, subject string }{
		{"demo-oidc", vars["OIDC_IDP"], "alice@oidc.example", "alice"},
		{"demo-saml", vars["SAML_IDP"], "carol@saml.example", "carol@saml.example"},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			code, tok := get(t, tc.mintAt+"/demo/mint?user="+tc.user)
			if code != 200 {
				t.Fatalf("mint: %d %s", code, tok)
			}
			b := built[tc.provider]
			id, err := b.Provider.(providers.TokenVerifier).VerifyToken(context.Background(),
				providers.TokenParams{Token: strings.TrimSpace(tok), Recipient: tokenURL, Audiences: b.Common.Exchange.Audiences})
			if err != nil {
				t.Fatalf("%s refuses the minted token: %v", tc.provider, err)
			}
			if id.ProviderID != tc.provider || id.Subject != tc.subject || id.Email != tc.user {
				t.Errorf("identity %+v", id)
			}
			if code, body := get(t, tc.mintAt+"/demo/mint?user=mallory@evil.example"); code != 404 {
				t.Errorf("mint for a stranger: %d %s", code, body)
			}
		})
	}

	// A restart rotates the secrets: the old ones stop working.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	env, _, _ = testEnv(nil)
	_, stop = startDemoOn(t, env, dir, addr)
	defer stop()
	again := readExchangeEnv(t, dir)
	if again["SERVICE_SECRET"] == vars["SERVICE_SECRET"] {
		t.Fatal("the restart kept demo-service's secret")
	}
	if code, _ := clientCredentials(t, issuer, vars["SERVICE_ID"], vars["SERVICE_SECRET"]); code != 401 {
		t.Errorf("the old secret still works: %d", code)
	}
	if code, body := clientCredentials(t, issuer, again["SERVICE_ID"], again["SERVICE_SECRET"]); code != 200 {
		t.Errorf("the new secret: %d %s", code, body)
	}
}

// readExchangeEnv checks exchange.env is private and returns its settings.
func readExchangeEnv(t *testing.T, dir string) map[string]string {
	t.Helper()
	path := filepath.Join(dir, "exchange.env")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v", path, st, err)
	}
	vars, err := config.ReadDotEnv(path)
	if err != nil {
		t.Fatal(err)
	}
	return vars
}

func clientCredentials(t *testing.T, issuer, id, secret string) (int, string) {
	t.Helper()
	return postForm(t, issuer+"/oauth2/token", id, secret, "grant_type=client_credentials")
}

// demoProviders builds the demo's providers from its database as the server does.
func demoProviders(t *testing.T, dir, issuer string) map[string]*upstream.Built {
	t.Helper()
	ctx := context.Background()
	dot, err := config.ReadDotEnv(filepath.Join(dir, "demo.env"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Source{DotEnv: dot, Flags: map[string]string{"GATEHOUSE_ISSUER": issuer}})
	if err != nil {
		t.Fatal(err)
	}
	ring, err := seal.NewKeyring(cfg.MasterKeys...)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	uenv := upstream.Env{Issuer: cfg.Issuer, Keyring: ring, Networks: safehttp.LoopbackNetworks()}
	out := map[string]*upstream.Built{}
	for _, id := range []string{"demo-oidc", "demo-saml"} {
		pc, err := db.Providers().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b, err := uenv.Build(pc)
		if err != nil {
			t.Fatal(err)
		}
		if !b.Common.Exchange.Enabled || !b.Common.Exchange.CreateUsers || b.Common.Exchange.OneTime {
			t.Errorf("%s exchange settings: %+v", id, b.Common.Exchange)
		}
		out[id] = b
	}
	return out
}

// postForm posts a form with HTTP Basic client authentication.
func postForm(t *testing.T, url, id, secret, form string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
