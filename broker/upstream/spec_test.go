package upstream

import (
	"reflect"
	"strings"
	"testing"
)

// TestSpecsJSONAndYAML: a providers file reads the same in JSON and YAML, and YAML
// gets the same strictness (unknown fields, bad IDs refused).
func TestSpecsJSONAndYAML(t *testing.T) {
	const asJSON = `{"providers": [
		{"id": "corp", "kind": "oidc", "name": "Corp", "domains": ["corp.example"], "trust_email_linking": true,
		 "oidc": {"issuer": "https://id.corp.example", "client_id": "gatehouse"}},
		{"id": "uni", "kind": "saml", "name": "University",
		 "saml": {"role_rules": [{"claim": "eduPersonAffiliation", "value": "faculty", "role": "teacher"}]}}]}`
	const asYAML = `
providers:
  - id: corp
    kind: oidc
    name: Corp
    domains: [corp.example]
    trust_email_linking: true
    oidc:
      issuer: https://id.corp.example
      client_id: gatehouse
  - id: uni
    kind: saml
    name: University
    saml:
      role_rules:
        - {claim: eduPersonAffiliation, value: faculty, role: teacher}
`
	fromJSON, err := ParseSpecs([]byte(asJSON))
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := ParseSpecs([]byte(asYAML))
	if err != nil {
		t.Fatal(err)
	}
	if len(fromJSON) != 2 || !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Fatalf("JSON and YAML differ:\n%+v\n%+v", fromJSON, fromYAML)
	}
	one, err := ParseSpec([]byte("id: corp\nkind: oidc\nname: Corp\n"))
	if err != nil || one.ID != "corp" || one.Kind != "oidc" {
		t.Fatalf("one spec from YAML: %+v %v", one, err)
	}
	for name, bad := range map[string]string{
		"unknown field": "providers:\n  - id: corp\n    kind: oidc\n    colour: blue\n",
		"bad id":        "- id: Corp_1\n  kind: oidc\n",
		"not YAML":      "providers: [\n",
	} {
		if _, err := ParseSpecs([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "panic") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestParseSpecsNamesFieldsAsWritten: every problem of every entry at once,
// each naming the entry and the field as the file writes it, with where a
// misplaced field belongs or the near miss meant; never a Go type or field.
func TestParseSpecsNamesFieldsAsWritten(t *testing.T) {
	_, err := ParseSpecs([]byte(`
- id: a
  kind: oidc
  name: A
  issuer: https://a.example
  oidc: {client_id: x, scope: [openid]}
- id: b
  kind: saml
  name: B
  saml: {metadata_refresh: 6, mapping: {email: mail}}
- id: a
  kind: oidc
  name: Again
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`provider "a" (entry 1): unknown field "issuer" at the top level of the entry: it belongs at oidc.issuer`,
		`provider "a" (entry 1): unknown field "oidc.scope": did you mean oidc.scopes?`,
		`provider "b" (entry 2): saml.mapping.email: want a list of strings, got the string "mail"`,
		`provider "b" (entry 2): saml.metadata_refresh: want a duration like "6h" or "720h", got 6`,
		`provider "a" (entry 3): the id "a" is used by entry 1 already`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("lacks %q:\n%v", want, err)
		}
	}
	for _, goName := range []string{"Spec", "[]string", "Go "} {
		if strings.Contains(err.Error(), goName) {
			t.Errorf("names Go's %q:\n%v", goName, err)
		}
	}
}

// TestParseSpecsRefusesTrailingData: a providers file is one JSON value or one
// YAML document; what follows it is refused, not silently left unread (a second
// list of providers concatenated to the first would otherwise never be applied).
// Found by FuzzParseSpecs.
func TestParseSpecsRefusesTrailingData(t *testing.T) {
	for name, file := range map[string]string{
		"second JSON list":     `[{"id": "a", "kind": "oidc"}] [{"id": "b", "kind": "oidc"}]`,
		"second JSON object":   `{"providers": [{"id": "a"}]}{"providers": [{"id": "b"}]}`,
		"trailing garbage":     `{"providers": [{"id": "a"}]}0`,
		"second YAML document": "- id: a\n  kind: oidc\n---\n- id: b\n  kind: oidc\n",
	} {
		if specs, err := ParseSpecs([]byte(file)); err == nil {
			t.Errorf("%s: accepted as %+v", name, specs)
		}
	}
	if one, err := ParseSpec([]byte(`{"id": "a"} {"id": "b"}`)); err == nil {
		t.Errorf("one provider with a second after it: accepted as %+v", one)
	}
	if specs, err := ParseSpecs([]byte("---\n- id: a\n  kind: oidc\n")); err != nil || len(specs) != 1 {
		t.Errorf("one YAML document with a leading ---: %v %+v", err, specs)
	}
}
