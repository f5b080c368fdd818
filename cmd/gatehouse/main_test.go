package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	masterKeyA = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // "0123456789abcdef0123456789abcdef"
	masterKeyB = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=" // another 32 bytes
)

// lockedBuffer collects a command's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testEnv is an environment whose GATEHOUSE_* variables are exactly vars; nothing
// from the real environment or a .env file leaks in.
func testEnv(vars map[string]string) (*environment, *lockedBuffer, *lockedBuffer) {
	out, errs := &lockedBuffer{}, &lockedBuffer{}
	return &environment{stdout: out, stderr: errs, lookupEnv: func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}}, out, errs
}

func baseVars(t *testing.T) map[string]string {
	return map[string]string{
		"GATEHOUSE_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db"),
		"GATEHOUSE_MASTER_KEY":   masterKeyA,
		"GATEHOUSE_LISTEN_ADDR":  "127.0.0.1:0",
	}
}

// running is a gatehouse command serving in-process.
type running struct {
	url    string
	stderr *lockedBuffer
	stop   func() error
}

// start runs `gatehouse <args>` until it is ready to serve.
func start(t *testing.T, vars map[string]string, args ...string) *running {
	t.Helper()
	env, _, errs := testEnv(vars)
	ready := make(chan string, 1)
	env.ready = func(addr string) { ready <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dispatch(ctx, env, append(args, "--env-file", filepath.Join(t.TempDir(), "none.env"))) }()
	select {
	case addr := <-ready:
		var once sync.Once
		var err error
		stop := func() error {
			once.Do(func() { cancel(); err = <-done })
			return err
		}
		t.Cleanup(func() { stop() })
		return &running{url: "http://" + addr, stderr: errs, stop: stop}
	case err := <-done:
		cancel()
		t.Fatalf("gatehouse %s exited before serving: %v\n%s", args[0], err, errs)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("gatehouse %s did not start:\n%s", args[0], errs)
	}
	return nil
}

// runCommand runs a one-shot gatehouse command and returns its stdout.
func runCommand(t *testing.T, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	env, out, errs := testEnv(vars)
	err := dispatch(context.Background(), env, append(args, "--env-file", filepath.Join(t.TempDir(), "none.env")))
	if err != nil {
		return out.String() + errs.String(), err
	}
	return out.String(), nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func kids(t *testing.T, jwks string) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(jwks), &set); err != nil {
		t.Fatalf("jwks %q: %v", jwks, err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KID)
	}
	return out
}

func TestServeServesTheShell(t *testing.T) {
	g := start(t, baseVars(t), "serve")
	// The request counter appears in /metrics only once a request was counted;
	// map order may visit /metrics first.
	get(t, g.url+"/healthz")
	for path, want := range map[string]string{
		"/":                                 `data-testid="home"`,
		"/healthz":                          "ok",
		"/readyz":                           `"status":"ok"`,
		"/metrics":                          "gatehouse_http_requests_total",
		"/.well-known/openid-configuration": `"jwks_uri":"http://localhost:8080/oauth2/jwks"`,
		"/oauth2/jwks":                      `"kty":"EC"`,
	} {
		if code, body := get(t, g.url+path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d %.200s", path, code, body)
		}
	}
	if err := g.stop(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	if !strings.Contains(g.stderr.String(), "shut down") {
		t.Errorf("no shutdown log:\n%s", g.stderr)
	}
}

func TestRestartKeepsKeysAndRotatePublishesANextKey(t *testing.T) {
	vars := baseVars(t)
	g := start(t, vars, "serve")
	_, jwks := get(t, g.url+"/oauth2/jwks")
	first := kids(t, jwks)
	if len(first) != 1 {
		t.Fatalf("first start: %v", first)
	}
	g.stop()

	g = start(t, vars, "serve")
	_, jwks = get(t, g.url+"/oauth2/jwks")
	if again := kids(t, jwks); len(again) != 1 || again[0] != first[0] {
		t.Fatalf("restart changed the keys: %v then %v", first, again)
	}
	g.stop()

	out, err := runCommand(t, vars, "keys", "rotate")
	if err != nil || !strings.Contains(out, "Created key") {
		t.Fatalf("keys rotate: %v %s", err, out)
	}
	out, err = runCommand(t, vars, "keys", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var listed []struct{ KID, State string }
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("keys list --json: %v %s", err, out)
	}
	states := map[string]string{}
	for _, k := range listed {
		states[k.KID] = k.State
	}
	if states[first[0]] != "active" || strings.Contains(out, "private") {
		t.Fatalf("after rotate: %s", out)
	}

	g = start(t, vars, "serve")
	_, jwks = get(t, g.url+"/oauth2/jwks")
	if both := kids(t, jwks); len(both) != 2 {
		t.Fatalf("JWKS after rotate: %v", both)
	}
}

func TestDATA01_WrongMasterKeyFailsClosed(t *testing.T) {
	vars := baseVars(t)
	start(t, vars, "serve").stop()
	vars["GATEHOUSE_MASTER_KEY"] = masterKeyB
	env, _, _ := testEnv(vars)
	err := dispatch(context.Background(), env, []string{"serve", "--env-file", filepath.Join(t.TempDir(), "none.env")})
	if err == nil {
		t.Fatal("serve started with the wrong master key")
	}
	vars["GATEHOUSE_MASTER_KEY"] = masterKeyA
	out, err := runCommand(t, vars, "keys", "list", "--json")
	var listed []struct{ KID string }
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 {
		t.Fatalf("the refused start created keys: %v %s", err, out)
	}
}

func TestMisconfigurationRefusesToStart(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{}, "GATEHOUSE_MASTER_KEY: required"},
		{map[string]string{"GATEHOUSE_MASTER_KEY": masterKeyA, "GATEHOUSE_ISSUER": "id.example.com"}, "GATEHOUSE_ISSUER"},
		{map[string]string{"GATEHOUSE_MASTER_KEY": "c2hvcnQ="}, "GATEHOUSE_MASTER_KEY: must decode to 32 bytes"},
		{map[string]string{"GATEHOUSE_MASTER_KEY": masterKeyA, "GATEHOUSE_DATABASE_URL": "mongodb://x"}, `unknown database scheme "mongodb"`},
		{map[string]string{"GATEHOUSE_MASTER_KEY": masterKeyA, "GATEHOUSE_TLS_CERT_FILE": "/nonexistent.pem", "GATEHOUSE_TLS_KEY_FILE": "/nonexistent.key"}, "GATEHOUSE_TLS_CERT_FILE: cannot read /nonexistent.pem"},
	} {
		_, err := runCommand(t, tc.vars, "serve")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: want refusal with %q, got %v", tc.vars, tc.want, err)
		}
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		env, _, errs := testEnv(nil)
		err := dispatch(context.Background(), env, []string{c.name, "--help"})
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errs.String(), "Usage: gatehouse "+c.name) {
			t.Errorf("%s --help: %v\n%s", c.name, err, errs)
		}
	}
	env, out, _ := testEnv(nil)
	if err := dispatch(context.Background(), env, []string{"--help"}); err != nil || !strings.Contains(out.String(), "demo") {
		t.Errorf("top-level help: %v %s", err, out)
	}
	if _, err := runCommand(t, nil, "frobnicate"); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %v", err)
	}
}

func TestMigrateCommand(t *testing.T) {
	vars := map[string]string{"GATEHOUSE_DATABASE_URL": baseVars(t)["GATEHOUSE_DATABASE_URL"]}
	out, err := runCommand(t, vars, "migrate", "status")
	if err != nil || !strings.Contains(out, "pending") {
		t.Fatalf("status before up: %v\n%s", err, out)
	}
	for range 2 { // idempotent
		out, err = runCommand(t, vars, "migrate", "up")
		if err != nil || strings.Contains(out, "pending") || !strings.Contains(out, "VERSION") {
			t.Fatalf("up: %v\n%s", err, out)
		}
	}
	if _, err := runCommand(t, vars, "migrate", "sideways"); err == nil {
		t.Error("migrate accepted an unknown action")
	}
}

func TestVersion(t *testing.T) {
	env, stdout, _ := testEnv(nil)
	err := dispatch(context.Background(), env, []string{"version"})
	out := stdout.String()
	if err != nil || !strings.HasPrefix(out, "gatehouse ") || !strings.Contains(out, "go1.") {
		t.Fatalf("%v %q", err, out)
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

func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo-data")
	addr := freeAddr(t)
	env, out, _ := testEnv(map[string]string{"GATEHOUSE_MASTER_KEY": "ignored-by-the-demo"})
	ready := make(chan struct{})
	env.ready = func(string) { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dispatch(ctx, env, []string{"demo", "--data-dir", dir, "--listen-addr", addr}) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo exited: %v", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	if !strings.Contains(out.String(), "open http://localhost:"+port+"/") {
		t.Errorf("banner does not say where to go:\n%s", out)
	}
	code, body := get(t, "http://"+addr+"/")
	if code != 200 || !strings.Contains(body, "http://localhost:"+port) {
		t.Errorf("demo home: %d %s", code, body)
	}
	_, jwks := get(t, "http://"+addr+"/oauth2/jwks")
	cancel()
	if err := <-done; err != nil {
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
	if k := kids(t, jwks); len(k) != 1 || !strings.Contains(out.String(), k[0]) {
		t.Errorf("demo keys: jwks %v, list %s", k, out)
	}
}

func TestDOS01_OversizedHeaders(t *testing.T) {
	g := start(t, baseVars(t), "serve")
	req, _ := http.NewRequest("GET", g.url+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 200<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("200 KiB of headers: %d", res.StatusCode)
	}
	if code, _ := get(t, g.url+"/healthz"); code != 200 {
		t.Fatal("server unhealthy after oversized headers")
	}
}

func TestDOS03_SlowHeadersAreCutOff(t *testing.T) {
	g := start(t, baseVars(t), "serve")
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\n") // and never finish the headers
	began := time.Now()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.ReadAll(conn) // returns when the server closes the connection
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a connection with unfinished headers open for 20 s")
	}
	if waited := time.Since(began); waited > 6*time.Second {
		t.Fatalf("closed after %s, want within ReadHeaderTimeout (5 s) + 1 s", waited)
	}
}

func TestDOS05_ConnectionCap(t *testing.T) {
	vars := baseVars(t)
	vars["GATEHOUSE_MAX_CONNECTIONS"] = "2"
	g := start(t, vars, "serve")
	host := strings.TrimPrefix(g.url, "http://")
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	client := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	if res, err := client.Get(g.url + "/healthz"); err == nil {
		res.Body.Close()
		t.Fatal("a third connection was served while two were held open")
	}
	idle[0].Close()
	client.Timeout = 10 * time.Second
	res, err := client.Get(g.url + "/healthz")
	if err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
	res.Body.Close()
	idle[1].Close()
}
