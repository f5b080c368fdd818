//go:build demo

package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo-data")
	env, out, _ := testEnv(map[string]string{"GATEHOUSE_MASTER_KEY": "ignored-by-the-demo"})
	addr, stop := startDemo(t, env, dir)
	_, port, _ := net.SplitHostPort(addr)
	if !strings.Contains(out.String(), "open http://localhost:"+port+"/") {
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

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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
