package signin_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/providers/providertest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// An upstream token response whose token_type is not Bearer is an invalid
// response (RFC 6749 §5.1, §7.1): no user, no session, a refusal audited.
func TestOIDCTokenTypeNotBearer(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.OIDC.Set(func(k *providertest.Knobs) { k.TokenType = "mac" })
	c := brokertest.NewClient(e)
	res := e.Get(c, oidcCallback(e, c, "corp"))
	refused(e, res, http.StatusBadRequest, 0)
	wantAudit(e, "signin.refused", "invalid_response")
}
