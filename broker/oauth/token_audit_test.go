package oauth

import (
	"encoding/json"
	"testing"

	"github.com/gatehouse/gatehouse/broker/token"
)

// issuedDetails replaced a map on the issuance hot path; the stored JSON must not
// change, one audience or several.
func TestIssuedDetailsEncodeAsTheMapDid(t *testing.T) {
	for _, aud := range []token.Audience{{"https://api.test"}, {"https://api.test", "https://id.test"}, nil} {
		got, err := json.Marshal(issuedDetails{Audience: aud, GrantType: "client_credentials", JTI: "j1", Scope: "read write"})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(map[string]any{"grant_type": "client_credentials", "jti": "j1", "aud": []string(aud), "scope": "read write"})
		if string(got) != string(want) {
			t.Errorf("%s, want %s", got, want)
		}
	}
}
