package upstream

import (
	"bytes"
	"encoding/json"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzParseSpecs feeds arbitrary bytes to the providers-file parser
// (GATEHOUSE_PROVIDERS_FILE, `providers add-* --from-file`): no panic; every
// provider in an accepted file has a valid ID; and what it accepts round-trips —
// written back as JSON or as YAML and parsed again, the same providers come out
// (compared as their JSON, where an empty list and none are one), so the file an
// admin keeps means what Gatehouse read. The seeds and testdata/fuzz run as
// regular tests.
func FuzzParseSpecs(f *testing.F) {
	for _, s := range []string{
		`{"providers": [{"id": "corp", "kind": "oidc", "name": "Corp", "domains": ["corp.example"], "trust_email_linking": true,
		  "oidc": {"issuer": "https://id.corp.example", "client_id": "gatehouse", "scopes": ["openid", "email"]}, "client_secret": "s"}]}`,
		`[{"id": "uni", "kind": "saml", "name": "University", "enabled": false,
		  "saml": {"metadata_url": "https://idp.uni.example/md", "role_rules": [{"claim": "eduPersonAffiliation", "value": "faculty", "role": "teacher"}]}}]`,
		"providers:\n  - id: corp\n    kind: oidc\n    name: Corp\n    oidc:\n      issuer: https://id.corp.example\n      client_id: gatehouse\n",
		"- id: a\n  kind: oidc\n  name: 'x: y'\n  domains: [a.example, b.example]\n",
		"- id: a\n  kind: oidc\n  enabled: yes\n  name: 0x10\n",
		"providers: [\n", "- id: Corp_1\n", "{}", "[]", "null", "", "~", "- &a {id: a}\n- *a\n",
		`{"providers": [{"id": "a", "oidc": {"exchange": {"enabled": true, "audiences": ["cli"], "one_time": true}}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// One provider (--from-file) round-trips too.
		if one, err := ParseSpec(b); err == nil {
			asJSON, err := json.Marshal(one)
			if err != nil {
				t.Fatalf("an accepted spec does not serialise: %v", err)
			}
			back, err := ParseSpec(asJSON)
			if again, _ := json.Marshal(back); err != nil || !bytes.Equal(again, asJSON) {
				t.Fatalf("round trip of one provider: %v\n%s\n%s", err, asJSON, again)
			}
		}
		specs, err := ParseSpecs(b)
		if err != nil {
			return
		}
		for _, s := range specs {
			if !ValidID(s.ID) {
				t.Fatalf("accepted id %q", s.ID)
			}
		}
		asJSON, err := json.Marshal(map[string]any{"providers": specs})
		if err != nil {
			t.Fatalf("accepted specs do not serialise: %v", err)
		}
		asYAML, err := yaml.JSONToYAML(asJSON)
		if err != nil {
			t.Fatalf("accepted specs do not serialise as YAML: %v", err)
		}
		for name, again := range map[string][]byte{"JSON": asJSON, "YAML": asYAML} {
			back, err := ParseSpecs(again)
			if err != nil {
				t.Fatalf("%s of accepted specs is refused: %v\n%s", name, err, again)
			}
			if j, _ := json.Marshal(map[string]any{"providers": back}); !bytes.Equal(j, asJSON) {
				t.Fatalf("%s round trip changed the providers:\n%s\n%s", name, asJSON, j)
			}
		}
	})
}
