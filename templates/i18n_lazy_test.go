package templates

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/text/language"
)

// TestLanguagesWithoutCatalogues: validating GATEHOUSE_DEFAULT_LOCALE,
// discovery's ui_locales_supported and language negotiation answer from the
// catalogues' file names and leave the catalogues uncompiled, so a server that
// renders no page does not hold them (README: Performance, idle RSS). It runs in
// a fresh process: another test may already have rendered a page in this one.
func TestLanguagesWithoutCatalogues(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEMPLATES_FRESH") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLanguagesWithoutCatalogues$", "-test.count=1")
		cmd.Env = append(os.Environ(), "GATEHOUSE_TEMPLATES_FRESH=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("in a fresh process: %v\n%s", err, out)
		}
		return
	}
	cy := language.MustParse("cy")
	if !Supported(cy) || Supported(language.MustParse("fr")) {
		t.Errorf("Supported: cy %v, fr %v; want true, false", Supported(cy), Supported(language.MustParse("fr")))
	}
	if l := Locales(); len(l) != 2 || l[0] != language.English || l[1] != cy {
		t.Errorf("Locales() = %v, want [en cy]", l)
	}
	if got := Negotiate(language.English, "", "cy-GB"); got != cy {
		t.Errorf("Negotiate(cy-GB) = %v, want cy", got)
	}
	if cat != nil {
		t.Error("the message catalogues were compiled before any page needed a message")
	}
	// A page's first message compiles them.
	if T(WithLocale(t.Context(), cy, nil), "Sign in") == "" || cat == nil {
		t.Error("WithLocale and T did not compile the catalogues")
	}
}
