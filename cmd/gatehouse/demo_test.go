//go:build demo

package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo-data")
	env, out, _ := testEnv(map[string]string{"GATEHOUSE_MASTER_KEY": "ignored-by-the-demo"})
	addr, stop := startDemo(t, env, dir)
	_, port, _ := net.SplitHostPort(addr)
	if !strings.Contains(out.String(), "Gatehouse  http://localhost:"+port+"/") {
		t.Errorf("banner does not say where to go:\n%s", out)
	}
	code, body := get(t, "http://"+addr+"/")
	if code != 200 || !strings.Contains(body, "http://localhost:"+port) {
		t.Errorf("demo home: %d %s", code, body)
	}
	_, jwks := get(t, "http://"+addr+"/oauth2/jwks")
	if err := stop(); err != nil {
		t.Fatalf("demo shutdown: %v", err)
	}
	for path, mode := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "master.key"): 0o600, filepath.Join(dir, "gatehouse.db"): 0o600} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v (%v)", path, st.Mode().Perm(), mode, err)
		}
	}
	// The CLI commands the banner suggests work on the demo's data.
	env, out, errs := testEnv(nil)
	if err := dispatch(context.Background(), env, []string{"keys", "list", "--json", "--env-file", filepath.Join(dir, "demo.env")}); err != nil {
		t.Fatalf("keys list on demo data: %v %s", err, errs)
	}
	if k := kids(t, jwks); len(k) != 2 || !strings.Contains(out.String(), k[0]) || !strings.Contains(out.String(), k[1]) {
		t.Errorf("demo keys: jwks %v, list %s", k, out)
	}
}

// freeAddr is a free loopback address whose next four ports are free too:
// the demo's IdPs, app and mTLS listener take them.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		free := port <= 65531
		for i := 1; i <= 4 && free; i++ {
			n, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+i)))
			if free = err == nil; free {
				n.Close()
			}
		}
		l.Close()
		if free {
			return l.Addr().String()
		}
	}
	t.Fatal("no five free ports in a row")
	return ""
}

// startDemo runs "gatehouse demo" with its data in dir on a free loopback port and
// returns its address once it serves; stop ends it and says how it exited.
func startDemo(t *testing.T, env *environment, dir string) (addr string, stop func() error) {
	t.Helper()
	return startDemoOn(t, env, dir, freeAddr(t))
}

// startDemoOn is startDemo on addr.
func startDemoOn(t *testing.T, env *environment, dir, addr string) (string, func() error) {
	t.Helper()
	ready := make(chan struct{})
	env.ready = func(string) { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dispatch(ctx, env, []string{"demo", "--data-dir", dir, "--listen-addr", addr}) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("demo exited: %v", err)
	}
	return addr, func() error {
		cancel()
		return <-done
	}
}

// TestDemoRestartKeepsAccounts: people who signed in to the demo keep their
// accounts when it starts again on the same data: the demo IdPs come back on
// the same ports, so their issuers (which never change under linked
// identities) are the same.
func TestDemoRestartKeepsAccounts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo-data")
	env, _, _ := testEnv(nil)
	addr, stop := startDemo(t, env, dir)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]store.ProviderConfig{}
	for i, p := range []string{"demo-oidc", "demo-saml"} {
		before[p], err = db.Providers().Get(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		u := store.User{ID: "u" + strconv.Itoa(i), Email: p + "@example.test"}
		if err := db.Identities().LinkNewUser(ctx, u, store.Identity{ProviderID: p, Subject: "someone"}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	env, out, _ := testEnv(nil)
	_, stop = startDemoOn(t, env, dir, addr)
	if err := stop(); err != nil {
		t.Fatalf("demo restart: %v\n%s", err, out)
	}
	db, err = sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for p, old := range before {
		now, err := db.Providers().Get(ctx, p)
		if err != nil || string(now.Settings) == "" {
			t.Fatalf("%s after restart: %v", p, err)
		}
		was, _ := upstream.IssuerOf(old)
		is, _ := upstream.IssuerOf(now)
		if was != is {
			t.Errorf("%s: issuer %s became %s", p, was, is)
		}
		if n, _ := db.Identities().CountForProvider(ctx, p); n != 1 {
			t.Errorf("%s: %d identities after restart, want 1", p, n)
		}
	}
}

// TestDemoPortFromEnvironment: `make demo` honours PORT and
// GATEHOUSE_LISTEN_ADDR (issue 13, "Demo"): Gatehouse listens there, the demo
// app on the port three above, and the banner prints both.
func TestDemoPortFromEnvironment(t *testing.T) {
	for _, name := range []string{"PORT", "GATEHOUSE_LISTEN_ADDR"} {
		t.Run(name, func(t *testing.T) {
			addr := freeAddr(t)
			_, port, _ := net.SplitHostPort(addr)
			value := port
			if name == "GATEHOUSE_LISTEN_ADDR" {
				value = addr
			}
			env, out, _ := testEnv(map[string]string{name: value})
			stop := startDemoArgs(t, env, "demo", "--data-dir", filepath.Join(t.TempDir(), "demo-data"))
			defer stop()
			p, _ := strconv.Atoi(port)
			app := "http://127.0.0.1:" + strconv.Itoa(p+3) + "/"
			if !strings.Contains(out.String(), "http://localhost:"+port+"/") || !strings.Contains(out.String(), app) {
				t.Errorf("banner does not name Gatehouse on %s and the app at %s:\n%s", port, app, out)
			}
			if code, _ := get(t, "http://"+addr+"/"); code != 200 {
				t.Errorf("Gatehouse on %s: %d", addr, code)
			}
			if code, body := get(t, app); code != 200 || !strings.Contains(body, "demo-signin") {
				t.Errorf("demo app at %s: %d", app, code)
			}
		})
	}
}

// TestDemoPortBusyNamesTheWayOut: when Gatehouse's port or the demo app's is
// taken, the demo refuses to start with an error naming PORT and
// GATEHOUSE_LISTEN_ADDR, and sets nothing up.
func TestDemoPortBusyNamesTheWayOut(t *testing.T) {
	for _, taken := range []int{0, 3} {
		t.Run("port+"+strconv.Itoa(taken), func(t *testing.T) {
			addr := freeAddr(t)
			_, port, _ := net.SplitHostPort(addr)
			p, _ := strconv.Atoi(port)
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+taken)))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			dir := filepath.Join(t.TempDir(), "demo-data")
			env, out, _ := testEnv(map[string]string{"PORT": port})
			started := make(chan struct{})
			env.ready = func(string) { close(started) }
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- dispatch(ctx, env, []string{"demo", "--data-dir", dir}) }()
			select {
			case err = <-done:
			case <-started:
				cancel()
				<-done
				t.Fatalf("the demo started with port %d taken:\n%s", p+taken, out)
			}
			if err == nil {
				t.Fatalf("the demo ended without an error with port %d taken:\n%s", p+taken, out)
			}
			for _, want := range []string{"make demo PORT=", "GATEHOUSE_LISTEN_ADDR=", strconv.Itoa(p + taken)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the demo set up %s before refusing: %v", dir, err)
			}
		})
	}
}

// startDemoArgs runs dispatch(args) until it serves; stop ends it.
func startDemoArgs(t *testing.T, env *environment, args ...string) (stop func()) {
	t.Helper()
	ready := make(chan struct{})
	env.ready = func(string) { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dispatch(ctx, env, args) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("demo exited: %v", err)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo shutdown: %v", err)
		}
	}
}

// TestMakeDemoShowsProgress: `make demo` (tools/demo.sh) says what it is doing
// before the first build's minutes (the toolchain, the modules, how many
// packages it builds, a count as it compiles) and runs the demo it built with
// the arguments given: here --help, which ends at once.
func TestMakeDemoShowsProgress(t *testing.T) {
	testsupport.RequireTools(t, "bash", "go")
	cmd := exec.Command("bash", "../../tools/demo.sh", "--help")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tools/demo.sh --help: %v\n%s", err, out)
	}
	for _, want := range []string{"Go toolchain:", "downloading the modules", "Building gatehouse:", " packages",
		"Usage: gatehouse demo", "GATEHOUSE_LISTEN_ADDR", "$PORT"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(\d+ packages compiled|Up to date: nothing to compile)\.`).Match(out) {
		t.Errorf("no count of what was compiled:\n%s", out)
	}
}
