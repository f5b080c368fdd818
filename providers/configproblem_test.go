package providers

import (
	"errors"
	"testing"
)

// TestConfigProblemsAreTyped: a configuration's problems are *ConfigProblem
// values with a code and the values they quote, gathered in one *ConfigError
// that wraps ErrConfig; its text is ErrConfig's and then each problem's
// English, one a line, as Validate has always worded them.
func TestConfigProblemsAreTyped(t *testing.T) {
	var cp *ConfigProblem
	if err := (Mapping{Email: []string{"mail"}}).Validate(); !errors.As(err, &cp) || cp.Code != MappingNoSubject ||
		err.Error() != "mapping.subject is required: a mapping replaces the default one, so it must name the subject claim" {
		t.Errorf("Mapping.Validate: %v (%T)", err, err)
	}
	if err := (Mapping{Subject: []string{"sub"}}).Validate(); err != nil {
		t.Errorf("a mapping with a subject: %v", err)
	}
	var p ConfigProblems
	p.Add(SigningAlgNotAllowed, "HS%256", "RS256")
	p.Mapping(Mapping{Groups: []string{"g"}})
	p.Mapping(Mapping{})
	err := p.Err()
	var ce *ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) || len(ce.Problems) != 2 || ce.Problems[0].Arg(0) != "HS%256" || ce.Problems[0].Arg(2) != "" {
		t.Fatalf("Err: %#v", err)
	}
	want := ErrConfig.Error() + ": " + `oidc.signing_algs: signing algorithm "HS%256" not allowed (allowed: RS256)` + "\n" +
		"mapping.subject is required: a mapping replaces the default one, so it must name the subject claim"
	if err.Error() != want {
		t.Errorf("Err text\n%q\nwant\n%q", err.Error(), want)
	}
	if (&ConfigProblems{}).Err() != nil {
		t.Error("no problems, yet an error")
	}
}
