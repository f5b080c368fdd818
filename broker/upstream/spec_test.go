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
