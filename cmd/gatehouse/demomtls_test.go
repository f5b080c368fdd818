//go:build demo

package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"html"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// TestDemoMTLS: the demo serves the mTLS alias on port+4 (discovery says so), and
// the one curl command its output and start page show gets demo-mtls a token bound
// to the demo client certificate (RFC 8705 §3.1: cnf.x5t#S256); after a restart the
// same certificates still work.
func TestDemoMTLS(t *testing.T) {
	testsupport.RequireTools(t, "curl")
	dir := filepath.Join(t.TempDir(), "demo-data")
	env, out, _ := testEnv(nil)
	addr, stop := startDemo(t, env, dir)
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	alias := "https://localhost:" + strconv.Itoa(p+4)
	_, doc := get(t, "http://"+addr+"/.well-known/openid-configuration")
	if !strings.Contains(doc, `"token_endpoint":"`+alias+`/oauth2/token"`) || !strings.Contains(doc, `"tls_client_certificate_bound_access_tokens":true`) {
		t.Errorf("discovery: %s", doc)
	}
	cmd := regexp.MustCompile(`curl --cacert .*/oauth2/token`).FindString(out.String())
	if cmd == "" || !strings.Contains(cmd, alias) {
		t.Fatalf("the banner shows no curl command for %s:\n%s", alias, out)
	}
	if _, page := get(t, "http://"+addr+"/"); !strings.Contains(html.UnescapeString(page), cmd) {
		t.Errorf("the start page does not show %q", cmd)
	}
	want := demoClientThumbprint(t, dir)
	run := func() {
		t.Helper()
		b, err := exec.Command("sh", "-c", cmd+" -sS").CombinedOutput()
		var res struct {
			AccessToken string `json:"access_token"`
		}
		if err != nil || json.Unmarshal(b, &res) != nil || res.AccessToken == "" {
			t.Fatalf("%s: %v\n%s", cmd, err, b)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(res.AccessToken, ".")[1])
		var cl struct {
			Cnf map[string]string `json:"cnf"`
		}
		if json.Unmarshal(payload, &cl) != nil || cl.Cnf["x5t#S256"] != want {
			t.Fatalf("token not bound to the demo certificate: %s", payload)
		}
	}
	run()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"client.key", "server.key"} {
		if st, err := os.Stat(filepath.Join(dir, "mtls", name)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", name, st.Mode().Perm())
		}
	}
	env, _, _ = testEnv(nil)
	_, stop = startDemoOn(t, env, dir, addr)
	defer stop()
	if got := demoClientThumbprint(t, dir); got != want {
		t.Error("the demo client certificate changed across a restart")
	}
	run()
}

func demoClientThumbprint(t *testing.T, dir string) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "mtls", "client.crt"), filepath.Join(dir, "mtls", "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "mtls", "client.crt"))
	blk, _ := pem.Decode(b)
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil || len(pair.Certificate) != 1 {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pair.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
