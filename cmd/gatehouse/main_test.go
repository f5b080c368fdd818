package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/gatehouse/gatehouse/internal/testsupport"
)

const (
	masterKeyA = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // "0123456789abcdef0123456789abcdef"
	masterKeyB = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=" // another 32 bytes
)

// testEnv is an environment whose GATEHOUSE_* variables are exactly vars; nothing
// from the real environment or a .env file leaks in.
func testEnv(vars map[string]string) (*environment, *testsupport.LockedBuffer, *testsupport.LockedBuffer) {
	out, errs := &testsupport.LockedBuffer{}, &testsupport.LockedBuffer{}
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
	stderr *testsupport.LockedBuffer
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
	for _, tc := range []struct{ path, want string }{
		{"/", `data-testid="home"`},
		{"/healthz", "ok"},
		{"/readyz", `"status":"ok"`},
		{"/.well-known/openid-configuration", `"jwks_uri":"http://localhost:8080/oauth2/jwks"`},
		{"/oauth2/jwks", `"kty":"EC"`},
		{"/metrics", `gatehouse_http_requests_total{code="200",method="get",route="GET /healthz"} 1`}, // counts the requests above
	} {
		if code, body := get(t, g.url+tc.path); code != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d %.200s", tc.path, code, body)
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
	if len(first) != 2 {
		t.Fatalf("first start: %v, want the ES256 key and the RS256 key for ID tokens", first)
	}
	g.stop()

	g = start(t, vars, "serve")
	_, jwks = get(t, g.url+"/oauth2/jwks")
	if again := kids(t, jwks); !slices.Equal(again, first) {
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
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 4 {
		t.Fatalf("keys list --json: %v %s", err, out)
	}
	states := map[string]string{}
	for _, k := range listed {
		states[k.KID] = k.State
	}
	if states[first[0]] != "active" || states[first[1]] != "active" || strings.Contains(out, "private") {
		t.Fatalf("after rotate: %s", out)
	}

	g = start(t, vars, "serve")
	_, jwks = get(t, g.url+"/oauth2/jwks")
	if all := kids(t, jwks); len(all) != 4 {
		t.Fatalf("JWKS after rotate: %v", all)
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
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 2 {
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
	// A test binary records neither a module version nor a VCS revision.
	if err != nil || !strings.HasPrefix(out, "gatehouse ") || !strings.Contains(out, "go1.") || strings.Contains(out, "(devel)") {
		t.Fatalf("%v %q", err, out)
	}
	setting := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "1bfdc88d0c2e4f1f0a4b5c6d7e8f901234567890"
	for _, tt := range []struct {
		name     string
		version  string
		settings []debug.BuildSetting
		want     string
	}{
		{"module version", "v1.2.3", setting("vcs.revision", rev), "gatehouse v1.2.3 (go1.27.3)"},
		{"clean checkout", "(devel)", setting("vcs.revision", rev, "vcs.modified", "false"), "gatehouse " + rev + " (go1.27.3)"},
		{"dirty checkout", "(devel)", setting("vcs.revision", rev, "vcs.modified", "true"), "gatehouse " + rev + "+dirty (go1.27.3)"},
		{"nothing recorded", "(devel)", nil, "gatehouse development build (no module version or VCS revision recorded) (go1.27.3)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bi := &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Path: "github.com/gatehouse/gatehouse", Version: tt.version}, Settings: tt.settings}
			if got := describeBuild(bi); got != tt.want {
				t.Errorf("describeBuild = %q, want %q", got, tt.want)
			}
		})
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

// selfSigned writes a certificate for localhost/127.0.0.1 and its key (mode 600) and
// returns their paths with a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// startTLS serves Gatehouse over TLS and returns its https URL and a client trusting it.
func startTLS(t *testing.T) (string, *http.Client, *x509.CertPool) {
	certFile, keyFile, pool := selfSigned(t)
	vars := baseVars(t)
	vars["GATEHOUSE_TLS_CERT_FILE"], vars["GATEHOUSE_TLS_KEY_FILE"] = certFile, keyFile
	vars["GATEHOUSE_ISSUER"] = "https://localhost:8443"
	g := start(t, vars, "serve")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return strings.Replace(g.url, "http://", "https://", 1), client, pool
}

func TestServeTLS(t *testing.T) {
	url, client, _ := startTLS(t)
	res, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil || res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("https: %d tls=%v hsts=%q", res.StatusCode, res.TLS != nil, res.Header.Get("Strict-Transport-Security"))
	}
	// Plain http on the TLS port is not served.
	if res, err := http.Get(strings.Replace(url, "https://", "http://", 1) + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("plain http was served on the TLS listener")
		}
	}
}

// TestDOS06_HTTP2RapidReset opens HTTP/2 streams and cancels each at once (CVE-2023-44487)
// on one connection; the server must keep that from starving everyone else: the
// health probe on another connection keeps answering, and the attacking connection
// is throttled or closed rather than served without bound.
func TestDOS06_HTTP2RapidReset(t *testing.T) {
	url, client, pool := startTLS(t)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("server did not negotiate HTTP/2 (%q)", p)
	}
	io.WriteString(conn, http2.ClientPreface)
	fr := http2.NewFramer(conn, conn)
	fr.WriteSettings()
	var hdr bytes.Buffer
	enc := hpack.NewEncoder(&hdr)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "localhost"}, {":path", "/healthz"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	// Read (and drop) whatever the server sends, so its writes never block.
	go func() {
		for {
			if _, err := fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	sent := 0
	for id := uint32(1); id < 2*20000; id += 2 {
		if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hdr.Bytes(), EndStream: true, EndHeaders: true}) != nil ||
			fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
			break // the server closed the connection: acceptable
		}
		sent++
	}
	t.Logf("sent %d HEADERS+RST_STREAM pairs", sent)
	probe := *client
	probe.Timeout = 5 * time.Second
	res, err := probe.Get(url + "/healthz")
	if err != nil {
		t.Fatalf("after %d reset streams the health probe failed: %v", sent, err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("health probe: %d", res.StatusCode)
	}
}

// TestDATA13_MasterKeyRotation: reseal moves every secret to the new master key,
// idempotently, after which the old key can be dropped.
func TestDATA13_MasterKeyRotation(t *testing.T) {
	vars := baseVars(t)
	if out, err := runCommand(t, vars, "keys", "rotate"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	vars["GATEHOUSE_MASTER_KEY"], vars["GATEHOUSE_PREVIOUS_MASTER_KEYS"] = masterKeyB, masterKeyA
	for _, want := range []string{"Resealed 4 signing key(s)", "Resealed 0 signing key(s)"} { // active and next, ES256 and RS256
		out, err := runCommand(t, vars, "reseal")
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("reseal: %v %q, want %q", err, out, want)
		}
	}
	delete(vars, "GATEHOUSE_PREVIOUS_MASTER_KEYS")
	g := start(t, vars, "serve")
	if _, jwks := get(t, g.url+"/oauth2/jwks"); len(kids(t, jwks)) != 4 {
		t.Fatalf("after dropping the old master key: %s", jwks)
	}
	g.stop()
	vars["GATEHOUSE_MASTER_KEY"] = masterKeyA // the old key alone no longer opens anything
	if _, err := runCommand(t, vars, "keys", "list"); err == nil {
		t.Fatal("the retired master key still opens the signing keys")
	}
}

func TestWatermarkCommand(t *testing.T) {
	vars := baseVars(t)
	out, err := runCommand(t, vars, "watermark", "--before", "2026-11-28T12:00:00Z")
	if err != nil || !strings.Contains(out, "Revoked everything issued before 2026-11-28T12:00:00Z: 0 refresh token(s), 0 session(s)") {
		t.Fatalf("watermark: %v %q", err, out)
	}
	if _, err := runCommand(t, vars, "watermark", "--before", "yesterday"); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Fatalf("a bad time was accepted: %v", err)
	}
}
