package config

import (
	"strings"
	"testing"
)

// TestBrandSettingsStrict: colours are #rrggbb and nothing else (no names,
// short forms, or anything that could end a CSS declaration), readable as text
// against their background (WCAG 1.4.3, 4.5:1); the logo is https; the support
// contact an email address or an https URL. Each refusal names its setting.
func TestBrandSettingsStrict(t *testing.T) {
	for _, tc := range []struct{ env, value, want string }{
		{"GATEHOUSE_BRAND_COLOR", "red", "#rrggbb"},
		{"GATEHOUSE_BRAND_COLOR", "#fff", "#rrggbb"},
		{"GATEHOUSE_BRAND_COLOR", "#1f4b7a;}body{display:none", "#rrggbb"},
		{"GATEHOUSE_BRAND_COLOR", "url(https://evil.test/x)", "#rrggbb"},
		{"GATEHOUSE_BRAND_COLOR", "#ffff00", "contrast 1.1:1 against white"},
		{"GATEHOUSE_BRAND_COLOR_DARK", "#1f4b7a", "against the dark background"},
		{"GATEHOUSE_BRAND_LOGO_URL", "http://example.com/logo.png", "https"},
		{"GATEHOUSE_BRAND_LOGO_URL", "javascript:alert(1)", "https"},
		{"GATEHOUSE_SUPPORT_CONTACT", "javascript:alert(1)", "email address or an https URL"},
		{"GATEHOUSE_SUPPORT_CONTACT", "Help <help@example.com>", "email address or an https URL"},
		{"GATEHOUSE_BRAND_NAME", "Trust\u0007", "control characters"},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			_, err := Load(Source{Environ: env(map[string]string{tc.env: tc.value})})
			if err == nil || !strings.Contains(err.Error(), tc.env) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want refusal naming %s and %q, got %v", tc.env, tc.want, err)
			}
		})
	}
	c, err := Load(Source{Environ: env(map[string]string{"GATEHOUSE_BRAND_NAME": "NHS Wales Sign-in",
		"GATEHOUSE_BRAND_COLOR": "#005EB8", "GATEHOUSE_BRAND_COLOR_DARK": "#41b6e6",
		"GATEHOUSE_BRAND_LOGO_URL": "https://nhs.example/logo.svg", "GATEHOUSE_SUPPORT_CONTACT": "help@nhs.example"})})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Brand{Name: "NHS Wales Sign-in", Color: "#005eb8", ColorDark: "#41b6e6", LogoURL: "https://nhs.example/logo.svg",
		Support: "help@nhs.example"}); c.Brand != want {
		t.Errorf("brand %+v, want %+v", c.Brand, want)
	}
	if d, _ := Load(Source{}); d.Brand != (Brand{}) {
		t.Errorf("default brand %+v", d.Brand)
	}
}

// TestContrastRatio: WCAG 2.1's own extremes and Gatehouse's colours.
func TestContrastRatio(t *testing.T) {
	if r := ContrastRatio("#000000", "#ffffff"); r < 20.99 || r > 21.01 {
		t.Errorf("black on white %.2f", r)
	}
	if r := ContrastRatio("#1f4b7a", "#ffffff"); r < 4.5 {
		t.Errorf("Gatehouse blue %.2f", r)
	}
	if r := ContrastRatio("#7fb0e6", "#171c23"); r < 4.5 {
		t.Errorf("Gatehouse dark blue %.2f", r)
	}
}
