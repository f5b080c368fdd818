//go:build demo

package main

import (
	"context"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoCLISignsInWithTheDeviceFlow: issue 15's "a CLI signs in with the
// device flow" from the demo. The banner names the command; `gatehouse
// demo-cli` prints the address and code, polls while a browser signs alice in
// at the demo IdP, enters the code and allows Demo CLI, then prints who signed
// in and the token's scopes.
func TestDemoCLISignsInWithTheDeviceFlow(t *testing.T) {
	env, banner, _ := testEnv(nil)
	addr, stop := startDemo(t, env, filepath.Join(t.TempDir(), "demo-data"))
	defer stop()
	if !strings.Contains(banner.String(), "demo-cli --issuer") {
		t.Errorf("the banner does not name demo-cli:\n%s", banner)
	}
	_, port, _ := net.SplitHostPort(addr)
	cli, out, errs := testEnv(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- dispatch(ctx, cli, []string{"demo-cli", "--issuer", "http://localhost:" + port}) }()
	complete := regexp.MustCompile(`or open (http://\S+/device\?user_code=[A-Z]{4}-[A-Z]{4})`)
	var link string
	for link == "" {
		select {
		case err := <-done:
			t.Fatalf("demo-cli ended: %v\n%s%s", err, out, errs)
		case <-time.After(50 * time.Millisecond):
		}
		if m := complete.FindStringSubmatch(out.String()); m != nil {
			link = m[1]
		}
	}
	page := demoBrowse(t, link, "alice@oidc.example", "0")
	if !strings.Contains(page, `data-approved="true"`) {
		t.Fatalf("the browser did not allow the device:\n%s", page)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo-cli: %v\n%s%s", err, out, errs)
		}
	case <-ctx.Done():
		t.Fatalf("demo-cli still polling:\n%s", out)
	}
	if !strings.Contains(out.String(), "Signed in as Alice") || !strings.Contains(out.String(), "Scopes: openid profile notes.read") {
		t.Errorf("demo-cli output:\n%s", out)
	}
}
