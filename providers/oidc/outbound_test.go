package oidc

import (
	"testing"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// RFC 6749 §5.1 makes token_type required and §7.1 says a client must not use
// an access token whose type it does not understand; OIDC Core §3.1.3.3 says it
// is Bearer. Anything else is an invalid response, compared case-insensitively.
func TestTokenTypeMustBeBearer(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(k *providertest.Knobs)
		ok   bool
	}{
		{"Bearer", func(k *providertest.Knobs) {}, true},
		{"bearer", func(k *providertest.Knobs) { k.TokenType = "bearer" }, true},
		{"BEARER", func(k *providertest.Knobs) { k.TokenType = "BEARER" }, true},
		{"mac", func(k *providertest.Knobs) { k.TokenType = "mac" }, false},
		{"DPoP", func(k *providertest.Knobs) { k.TokenType = "DPoP" }, false},
		{"N_A", func(k *providertest.Knobs) { k.TokenType = "N_A" }, false},
		{"Bearer with space", func(k *providertest.Knobs) { k.TokenType = "Bearer " }, false},
		{"missing", func(k *providertest.Knobs) { k.OmitTokenType = true }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, keys()[:1])
			e.iss.Set(tc.set)
			id, err := e.login(t)
			if tc.ok {
				if err != nil || id.Subject != "alice" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
}
