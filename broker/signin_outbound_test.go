package broker

import (
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/providers/providertest"
)

// An upstream token response whose token_type is not Bearer is an invalid
// response (RFC 6749 §5.1, §7.1): no user, no session, a refusal audited.
func TestOIDCTokenTypeNotBearer(t *testing.T) {
	t.Parallel()
	e := newSigninEnv(t, envOptions{})
	e.addOIDC("corp", "oidc.example", false, aliceClaims())
	e.oidc.Set(func(k *providertest.Knobs) { k.TokenType = "mac" })
	c := newClient(e)
	res := e.get(c, e.oidcCallback(c, "corp"))
	e.refused(res, http.StatusBadRequest, 0)
	e.wantAudit("signin.refused", "invalid_response")
}
