//go:build demo

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"

	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/providers/safehttp"
)

// demoActor sets up the demo's providers, API and app (the audit log's actor).
var demoActor = operations.Actor{Name: "admin", Via: "demo"}

func cmdDemo(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "demo", "demo [flags]",
		"Runs Gatehouse with everything it needs kept in one folder (an SQLite database and a\n"+
			"generated master key), so a newcomer sees the whole product with one command.\n"+
			"Delete the folder to start over.")
	dataDir := fs.String("data-dir", "demo-data", "folder for the demo's database and master key")
	listen := fs.String("listen-addr", "127.0.0.1:8080", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("--listen-addr: must be host:port, like 127.0.0.1:8080")
	}
	envFile, err := prepareDemoData(*dataDir)
	if err != nil {
		return err
	}
	dot, err := config.ReadDotEnv(envFile)
	if err != nil {
		return err
	}
	// The demo ignores GATEHOUSE_* variables on purpose: it must work the same on
	// every machine. Its own settings file is what the CLI commands it suggests read.
	cfg, err := config.Load(config.Source{DotEnv: dot, Flags: map[string]string{
		"GATEHOUSE_ISSUER":      "http://localhost:" + port,
		"GATEHOUSE_LISTEN_ADDR": *listen,
		"GATEHOUSE_LOG_FORMAT":  "text",
		// The demo IdPs run in this process, on loopback over http.
		"GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS": safehttp.LoopbackNetworks().String(),
	}})
	if err != nil {
		return err
	}
	inner := env.ready
	demoEnv := *env
	var idps *demoIdPs
	var app *demoApp
	defer func() {
		if idps != nil {
			idps.Close()
		}
		if app != nil {
			app.Close()
		}
	}()
	demoEnv.prepare = func(ctx context.Context, db *sqlstore.DB, uenv upstream.Env, o *broker.Options) (err error) {
		// The demo sets itself up as an admin would: through the operations.
		ops, closeOps := newOperations(cfg, db, uenv, nil, nil)
		defer closeOps()
		if idps, err = startDemoIdPs(ctx, ops, o); err != nil {
			return err
		}
		if app, err = startDemoApp(ctx, ops, cfg.Issuer.String(), db.Users().Get); err != nil {
			return err
		}
		return registerDemoExchange(ctx, ops, *dataDir, [][2]string{{"GATEHOUSE", cfg.Issuer.String()},
			{"OIDC_IDP", idps.oidc.URL()}, {"SAML_IDP", idps.saml.Server.URL}})
	}
	demoEnv.ready = func(addr string) {
		fmt.Fprintf(env.stdout, `
  Gatehouse demo is running: open %[1]s/

  Sign in (two demo identity providers run inside this process):
    %[1]s/login   type alice@oidc.example or bob@oidc.example (OIDC),
                                 or carol@saml.example or dave@saml.example (SAML),
                                 pick who you are at the demo IdP, and land on your
                                 account page with your roles; then sign out there.
    %[4]s/   the demo app: signs in through Gatehouse (code + PKCE),
                                 asks to approve, and shows the ID token, access token
                                 and UserInfo. alice, bob, carol and dave each get
                                 different scopes of the Demo Notes API from their roles;
                                 "Connected apps" on the account page revokes it.
    go run ./cmd/gatehouse users show alice@oidc.example --env-file %[2]s
                                 the claims role rules can match

  Delegation (README "Delegation in the demo"):
    %[1]s/account/delegations
                                 alice can give bob access to her notes here (bob
                                 signs in once first); bob then picks "Act for
                                 Alice" in the demo app

  Token exchange (README "Token exchange" has a script to paste):
    %[3]s/exchange.env   the demo services' credentials (new at each start) and
                                 the URLs; the demo IdPs mint tokens to exchange at
                                 GET /demo/mint?user=alice@oidc.example (or carol@saml.example)

  Also:
    %[1]s/                                   the start page
    %[1]s/.well-known/openid-configuration   discovery metadata
    %[1]s/oauth2/jwks                         the published signing keys
    go run ./cmd/gatehouse keys rotate --env-file %[2]s
                                             publish a next key; within 30 s JWKS shows two

  Everything lives in %[3]s/ (delete it to start over). Ctrl-C stops.

`, cfg.Issuer, envFile, *dataDir, app.url)
		if inner != nil {
			inner(addr)
		}
	}
	return run(ctx, &demoEnv, cfg)
}

// prepareDemoData creates the demo folder (0700) with a master key file (0600) and a
// settings file pointing at them, keeping both across restarts so the demo's signing
// keys survive. It returns the settings file's path.
func prepareDemoData(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", err
	}
	keyFile := filepath.Join(dir, "master.key")
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		key, err := seal.NewMasterKey()
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	envFile := filepath.Join(dir, "demo.env")
	settings := fmt.Sprintf("# Written by 'gatehouse demo'.\nGATEHOUSE_DATABASE_URL=sqlite:%s\nGATEHOUSE_MASTER_KEY_FILE=%s\n",
		filepath.Join(dir, "gatehouse.db"), keyFile)
	if err := os.WriteFile(envFile, []byte(settings), 0o600); err != nil {
		return "", err
	}
	return envFile, nil
}
