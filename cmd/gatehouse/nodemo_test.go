//go:build !demo

package main

import (
	"context"
	"errors"
	"os"
	"testing"
)

// TestDemoNotBuiltIn: without -tags demo, "gatehouse demo" says how to get it. The
// demo's own tests need the tag, so CI (make test) must never run without it.
func TestDemoNotBuiltIn(t *testing.T) {
	env, _, _ := testEnv(nil)
	if err := dispatch(context.Background(), env, []string{"demo"}); !errors.Is(err, errNoDemo) {
		t.Fatalf("demo without the tag: %v", err)
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI runs without -tags demo, so the demo's tests did not run: use make test")
	}
}
