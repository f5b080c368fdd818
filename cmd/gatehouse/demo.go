//go:build demo

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"

	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/providers/safehttp"
	"github.com/gatehouse/gatehouse/templates"
)

// demoActor sets up the demo's providers, API and app (the audit log's actor).
var demoActor = operations.Actor{Name: "admin", Via: "demo"}

func cmdDemo(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "demo", "demo [flags]",
		"Runs Gatehouse with everything it needs kept in one folder (an SQLite database and a\n"+
			"generated master key), so a newcomer sees the whole product with one command.\n"+
			"Delete the folder to start over. It listens on --listen-addr, else GATEHOUSE_LISTEN_ADDR,\n"+
			"else 127.0.0.1:$PORT, else 127.0.0.1:8080; its identity providers, app and mTLS listener\n"+
			"take the next four ports.")
	dataDir := fs.String("data-dir", "demo-data", "folder for the demo's database and master key")
	listen := fs.String("listen-addr", "", "address to listen on (default: GATEHOUSE_LISTEN_ADDR, else 127.0.0.1:$PORT, else 127.0.0.1:8080);\n"+
		"the demo's identity providers, app and mTLS listener take the next four ports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ports, err := demoListenAddr(*listen, env.lookupEnv)
	if err != nil {
		return err
	}
	// Both addresses a newcomer opens are taken before anything is set up, so
	// a busy port is one sentence saying how to choose another.
	if err := ports.check(); err != nil {
		return err
	}
	port := strconv.Itoa(ports.port)
	envFile, err := prepareDemoData(*dataDir)
	if err != nil {
		return err
	}
	dot, err := config.ReadDotEnv(envFile)
	if err != nil {
		return err
	}
	// The demo ignores GATEHOUSE_* variables on purpose, but for the address:
	// it must work the same on every machine. Its own settings file is what the
	// CLI commands it suggests read.
	cfg, err := config.Load(config.Source{DotEnv: dot, Flags: map[string]string{
		"GATEHOUSE_ISSUER":      "http://localhost:" + port,
		"GATEHOUSE_LISTEN_ADDR": ports.addr,
		"GATEHOUSE_LOG_FORMAT":  "text",
		// The demo IdPs run in this process, on loopback over http.
		"GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS": safehttp.LoopbackNetworks().String(),
	}})
	if err != nil {
		return err
	}
	// RFC 8705: the demo's mTLS listener on port+4 with its own demo CA and
	// certificates. Set here rather than as settings because the main listener
	// stays plain http, which GATEHOUSE_MTLS_LISTEN_ADDR does not allow.
	certs, err := prepareDemoMTLS(*dataDir)
	if err != nil {
		return err
	}
	cfg.MTLSListenAddr, cfg.MTLSClientCAs = ports.mtls, certs.clientCAs
	mtlsCurl := certs.curl(cfg.MTLSBaseURL().String())
	inner := env.ready
	demoEnv := *env
	demoEnv.mtlsCert = &certs.serverCert
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
		if app, err = startDemoApp(ctx, ops, ports.app, cfg.Issuer.String(), cfg.DefaultLocale, db.Users().Get); err != nil {
			if oe := (*net.OpError)(nil); errors.As(err, &oe) && oe.Op == "listen" {
				return ports.busy(ports.app, err) // taken since check
			}
			return err
		}
		o.Demo = &templates.DemoIntro{AppURL: app.url + "/", People: demoPeople, MTLSCommand: mtlsCurl}
		if err := registerDemoMTLSClient(ctx, ops); err != nil {
			return err
		}
		if err := registerDemoCLI(ctx, ops); err != nil {
			return err
		}
		return registerDemoExchange(ctx, ops, *dataDir, [][2]string{{"GATEHOUSE", cfg.Issuer.String()},
			{"OIDC_IDP", idps.oidc.URL()}, {"SAML_IDP", idps.saml.Server.URL}})
	}
	demoEnv.ready = func(addr string) {
		fmt.Fprintf(env.stdout, `
  Gatehouse demo is running.

    Gatehouse  %[1]s/   the start page says what this is and who to sign in as
    Demo app   %[4]s/   the demo app signs in through Gatehouse (code + PKCE)

  Sign in as (two demo identity providers run inside this process):
    alice@oidc.example  OIDC, an administrator: also opens the admin console, %[1]s/admin
    bob@oidc.example    OIDC, staff: a plain user
    carol@saml.example  SAML, a teacher
    dave@saml.example   SAML, a student
  Each gets different scopes of the Demo Notes API from their roles: sign in at the demo
  app, approve, and see the tokens; "Connected apps" on %[1]s/account revokes it.

  Delegation (README "Delegation in the demo"): at %[1]s/account/delegations
  alice can give bob access to her notes (bob signs in once first); bob then picks
  "Act for Alice" in the demo app.

  Token exchange (README "Token exchange" has a script to paste): %[3]s/exchange.env
  holds the demo services' credentials (new at each start) and the URLs; the demo IdPs
  mint tokens to exchange at GET /demo/mint?user=alice@oidc.example (or carol@saml.example).

  A device without a browser (README "Devices without a browser"): in another terminal,
    %[6]s demo-cli --issuer %[1]s
  prints a code to enter at %[1]s/device, then who signed in.

  Client certificates (RFC 8705, README "Client certificates (mTLS)"): demo-mtls gets a
  token bound to its certificate (cnf.x5t#S256) from the mTLS listener:
    %[7]s

  Also: %[1]s/.well-known/openid-configuration (discovery), %[1]s/oauth2/jwks (keys).
  The CLI on the demo's data, with the toolchain this demo was built with (no rebuild):
    %[5]s users show alice@oidc.example --env-file %[2]s
    %[5]s keys rotate --env-file %[2]s   (within 30 s JWKS shows two keys)

  Everything lives in %[3]s/ (delete it to start over). Ctrl-C stops.
  Other ports: make demo PORT=9000 (uses 9000 to 9004).

`, cfg.Issuer, envFile, *dataDir, app.url, pinnedGoRun(), strings.Replace(pinnedGoRun(), "go run ", "go run -tags demo ", 1),
			mtlsCurl)
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

// demoPorts are the demo's addresses: Gatehouse on port, the demo IdPs on the
// next two ports (demoIdPAddrs) and the demo app on the one after, fixed so
// that what a newcomer bookmarks, and the demo people's accounts, survive a
// restart.
type demoPorts struct {
	addr string // Gatehouse's listen address
	port int
	from string // the setting addr came from, named in errors
	app  string // the demo app's address
	mtls string // the mTLS listener's address (RFC 8705 §5)
}

// defaultDemoPort is where the demo listens unless told otherwise.
const defaultDemoPort = 8080

// demoListenAddr is where the demo serves: --listen-addr, else
// GATEHOUSE_LISTEN_ADDR, else 127.0.0.1:$PORT, else 127.0.0.1:8080.
func demoListenAddr(flagAddr string, lookupEnv func(string) (string, bool)) (demoPorts, error) {
	p := demoPorts{addr: flagAddr, from: "--listen-addr"}
	if p.addr == "" {
		if v, ok := lookupEnv("GATEHOUSE_LISTEN_ADDR"); ok && v != "" {
			p.addr, p.from = v, "GATEHOUSE_LISTEN_ADDR"
		} else if v, ok := lookupEnv("PORT"); ok && v != "" {
			p.addr, p.from = net.JoinHostPort("127.0.0.1", v), "PORT"
		} else {
			p.addr, p.from = net.JoinHostPort("127.0.0.1", strconv.Itoa(defaultDemoPort)), ""
		}
	}
	host, port, err := net.SplitHostPort(p.addr)
	if err == nil {
		p.port, err = strconv.Atoi(port)
	}
	// The demo needs port to port+4; port 0 (any free port) would give the demo
	// app, IdPs and mTLS listener no fixed place.
	if err != nil || p.port < 1 || p.port > 65531 {
		if p.from == "PORT" {
			return p, fmt.Errorf("PORT=%s: the demo needs a port number from 1 to 65531, like PORT=9000", port)
		}
		return p, fmt.Errorf("%s=%s: the demo needs host:port with a port from 1 to 65531, like 127.0.0.1:9000", p.from, p.addr)
	}
	p.mtls = net.JoinHostPort(host, strconv.Itoa(p.port+4))
	p.app = net.JoinHostPort(host, strconv.Itoa(p.port+3))
	if host == "" || host == "0.0.0.0" || host == "::" {
		p.app = net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port+3))
	}
	return p, nil
}

// check makes sure Gatehouse's and the demo app's ports are free, and says how
// to pick others when one is not.
func (p demoPorts) check() error {
	for _, addr := range []string{p.addr, p.app, p.mtls} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return p.busy(addr, err)
		}
		ln.Close()
	}
	return nil
}

// busy is the error for an address the demo cannot listen on: it names the
// way to move the demo, as the person started it.
func (p demoPorts) busy(addr string, err error) error {
	next := p.port + 10
	what := "Gatehouse"
	switch addr {
	case p.app:
		what = "the demo app"
	case p.mtls:
		what = "the mTLS listener"
	}
	reason := err.Error()
	if se := (*os.SyscallError)(nil); errors.As(err, &se) {
		reason = se.Err.Error()
	}
	return fmt.Errorf("the demo cannot listen on %s for %s (%s): another program, or another demo, is using it.\n"+
		"Start the demo on other ports with `make demo PORT=%d` (or GATEHOUSE_LISTEN_ADDR=127.0.0.1:%d, or --listen-addr); "+
		"it uses that port and the next four (its identity providers, app and mTLS listener)", addr, what, reason, next, next)
}

// pinnedGoRun is the go run command line for the CLI on the demo's data: with
// the toolchain and cgo setting this binary was built with (the Makefile pins
// both), so go reuses its build cache instead of downloading another toolchain
// and building everything again.
func pinnedGoRun() string {
	v, _, _ := strings.Cut(runtime.Version(), " ") // "go1.27.3 X:…" with experiments
	if !strings.HasPrefix(v, "go1.") {
		return "go run ./cmd/gatehouse" // a development toolchain: nothing to pin
	}
	cmd := "GOTOOLCHAIN=" + v
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "CGO_ENABLED" {
				cmd += " CGO_ENABLED=" + s.Value
			}
		}
	}
	return cmd + " go run ./cmd/gatehouse"
}
