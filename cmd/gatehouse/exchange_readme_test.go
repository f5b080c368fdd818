//go:build demo

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/internal/testsupport"
)

// readmeExchangeMarker is the first line of README.md's token-exchange script.
const readmeExchangeMarker = "# token-exchange-demo:"

// readmeBlock returns the fenced sh block of README.md whose first line starts with marker.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !in && line == "```sh":
			in, block = true, nil
		case in && line == "```":
			if len(block) > 0 && strings.HasPrefix(block[0], marker) {
				return strings.Join(block, "\n") + "\n"
			}
			in = false
		case in:
			block = append(block, line)
		}
	}
	t.Fatalf("README.md has no ```sh block starting with %q", marker)
	return ""
}

// TestReadmeTokenExchangeScript runs README.md's token-exchange script as written,
// with bash, against a demo started the way "make demo" starts it (its own data
// folder and ports), and checks what each step printed: the RFC 8693 §2.2.1
// response, the decoded tokens' sub, aud, scope, client_id, idp and act (§4.1),
// and the introspection of the last one.
func TestReadmeTokenExchangeScript(t *testing.T) {
	testsupport.RequireTools(t, "bash", "curl", "jq", "base64", "tr", "cut")
	script := readmeBlock(t, readmeExchangeMarker)
	work := t.TempDir()
	env, _, _ := testEnv(nil)
	_, stop := startDemo(t, env, filepath.Join(work, "demo-data"))
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// -e and pipefail: a step that fails stops the script here, with its error.
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-s")
	cmd.Dir, cmd.Stdin = work, strings.NewReader(script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("README script: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a line that is not one JSON object: %q\nstdout:\n%s", line, stdout.String())
		}
		out = append(out, m)
	}
	if len(out) != 6 {
		t.Fatalf("%d lines printed, want 6:\n%s", len(out), stdout.String())
	}
	response, alice, carol, hop1, hop2, introspected := out[0], out[1], out[2], out[3], out[4], out[5]
	const notes, reports = demoAPIAudience, demoReportsAudience
	actService := map[string]any{"sub": demoServiceID}
	actChain := map[string]any{"sub": demoReportsID, "act": actService}

	if response["issued_token_type"] != registry.TokenTypeAccessToken || response["token_type"] != "Bearer" ||
		response["scope"] != "notes.read notes.write" || !positive(response["expires_in"]) {
		t.Errorf("(a) response: %v", response)
	}
	for _, tc := range []struct {
		step                    string
		claims                  map[string]any
		aud, scope, client, idp string
		act                     map[string]any
	}{
		{"(a) Alice's exchanged ID token", alice, notes, "notes.read notes.write", demoServiceID, "demo-oidc", nil},
		{"(b) Carol's exchanged assertion", carol, notes, "notes.read grades.read", demoServiceID, "demo-saml", nil},
		{"(c) first hop", hop1, reports, "notes.read", demoServiceID, "", actService},
		{"(c) second hop", hop2, notes, "notes.read", demoReportsID, "", actChain},
	} {
		c := tc.claims
		if !audIs(c["aud"], tc.aud) || c["scope"] != tc.scope || c["client_id"] != tc.client {
			t.Errorf("%s: %v", tc.step, c)
		}
		if tc.idp != "" && c["idp"] != tc.idp {
			t.Errorf("%s: idp %v, want %s", tc.step, c["idp"], tc.idp)
		}
		if tc.act != nil && !reflect.DeepEqual(c["act"], tc.act) {
			t.Errorf("%s: act %v, want %v", tc.step, c["act"], tc.act)
		}
	}
	sub, _ := alice["sub"].(string)
	if sub == "" || carol["sub"] == sub || hop1["sub"] != sub || hop2["sub"] != sub {
		t.Errorf("subjects: Alice %v, Carol %v, hops %v %v: each hop is Alice", alice["sub"], carol["sub"], hop1["sub"], hop2["sub"])
	}
	if introspected["active"] != true || introspected["sub"] != sub || !audIs(introspected["aud"], notes) ||
		!reflect.DeepEqual(introspected["act"], actChain) {
		t.Errorf("(d) introspection: %v", introspected)
	}
}

func positive(v any) bool {
	f, ok := v.(float64)
	return ok && f > 0
}

// audIs reports whether a JWT aud (a string, or an array of one) is want.
func audIs(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		return len(a) == 1 && a[0] == want
	}
	return false
}
