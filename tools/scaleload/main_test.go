package main

import (
	"strings"
	"testing"
	"time"
)

// TestRefusesAnythingButABoundedLoopbackRun: the load goes to loopback only,
// bounded in connections and time, and the IdP listens on loopback only.
func TestRefusesAnythingButABoundedLoopbackRun(t *testing.T) {
	ok := options{base: "http://127.0.0.1:1", scenario: "cc", conns: 16, duration: time.Second}
	for name, o := range map[string]options{
		"private address": {base: "http://10.0.0.1:8080", scenario: "cc", conns: 16, duration: time.Second},
		"public name":     {base: "http://example.com", scenario: "cc", conns: 16, duration: time.Second},
		"https":           {base: "https://127.0.0.1:1", scenario: "cc", conns: 16, duration: time.Second},
		"too many conns":  {base: ok.base, scenario: "cc", conns: 1000, duration: time.Second},
		"too long":        {base: ok.base, scenario: "cc", conns: 16, duration: time.Hour},
		"no scenario":     {base: ok.base, scenario: "nothing", conns: 16, duration: time.Second},
	} {
		if err := run(o); err == nil {
			t.Errorf("%s: run accepted %+v", name, o)
		}
	}
	if err := serveIdP("192.0.2.1:80", "", "c", "s", time.Second); err == nil || !strings.Contains(err.Error(), "non-loopback") {
		t.Errorf("serveIdP on a non-loopback address: %v", err)
	}
}
