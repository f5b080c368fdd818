package config

import (
	"strings"
	"testing"

	"golang.org/x/text/language"
)

// TestDefaultLocale: GATEHOUSE_DEFAULT_LOCALE is English unless set, accepts
// a language the pages are written in, and refuses any other, naming the
// setting and the choices.
func TestDefaultLocale(t *testing.T) {
	if c, err := Load(Source{}); err != nil || c.DefaultLocale != language.English {
		t.Fatalf("default %v, %v", c.DefaultLocale, err)
	}
	if c, err := Load(Source{Environ: env(map[string]string{"GATEHOUSE_DEFAULT_LOCALE": "cy"})}); err != nil || c.DefaultLocale.String() != "cy" {
		t.Fatalf("cy: %v, %v", c.DefaultLocale, err)
	}
	for _, v := range []string{"fr", "cy-GB-x-nonsense!", ""} {
		_, err := Load(Source{Environ: env(map[string]string{"GATEHOUSE_DEFAULT_LOCALE": v})})
		if v == "" {
			continue // empty is the default
		}
		if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_DEFAULT_LOCALE") || !strings.Contains(err.Error(), "en, cy") {
			t.Errorf("%q: want a refusal naming the setting and en, cy, got %v", v, err)
		}
	}
}
