package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/providers/safehttp"
)

func TestUpstreamAllowedNetworks(t *testing.T) {
	// The refusals safehttp writes name this setting: the names must agree.
	if !slices.ContainsFunc(Settings, func(s Setting) bool { return s.Env == safehttp.AllowedNetworksSetting }) {
		t.Fatalf("no setting %s", safehttp.AllowedNetworksSetting)
	}
	c, err := Load(Source{})
	if err != nil || !c.UpstreamAllowedNetworks.IsZero() {
		t.Fatalf("default: %v, %v; want off", c.UpstreamAllowedNetworks, err)
	}
	c, err = Load(Source{Environ: env(map[string]string{safehttp.AllowedNetworksSetting: "10.20.0.0/16, SSO.corp.example"})})
	if err != nil || c.UpstreamAllowedNetworks.String() != "10.20.0.0/16,sso.corp.example" {
		t.Fatalf("got %v, %v", c.UpstreamAllowedNetworks, err)
	}
	for _, bad := range []string{"169.254.169.254", "metadata.google.internal", "https://sso.corp.example"} {
		_, err := Load(Source{Environ: env(map[string]string{safehttp.AllowedNetworksSetting: bad})})
		if err == nil || !strings.Contains(err.Error(), safehttp.AllowedNetworksSetting) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
