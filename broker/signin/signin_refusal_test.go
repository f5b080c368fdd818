package signin_test

import (
	"bytes"
	"compress/flate"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers/providertest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// refused asserts the error page with status, and that nothing was created.
func refused(e *brokertest.SigninEnv, res *http.Response, status int, usersBefore int) string {
	e.T.Helper()
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != status || !bytes.Contains(b, []byte(`data-testid="error"`)) {
		e.T.Fatalf("status %d (want %d), error page %v:\n%s", res.StatusCode, status, bytes.Contains(b, []byte(`data-testid="error"`)), b)
	}
	if n := e.Sessions(); n != 0 {
		e.T.Errorf("%d sessions after a refusal", n)
	}
	if n := e.Users(); n != usersBefore {
		e.T.Errorf("users %d after a refusal, want %d", n, usersBefore)
	}
	for _, c := range res.Cookies() {
		if c.Name == web.BrowserCookieSecure && c.MaxAge >= 0 {
			e.T.Errorf("refusal set a session cookie")
		}
	}
	return string(b)
}

// wantAudit asserts at least one refusal record with reason.
func wantAudit(e *brokertest.SigninEnv, action, reason string) {
	e.T.Helper()
	for _, ev := range e.Audited(action) {
		if strings.Contains(string(ev.Details), `"reason":"`+reason+`"`) {
			return
		}
	}
	e.T.Errorf("no %s audit record with reason %s", action, reason)
}

// oidcCallback starts a sign-in at provider id and returns the callback URL the
// OP sends the browser back to, without visiting it.
func oidcCallback(e *brokertest.SigninEnv, c *http.Client, id string) string {
	e.T.Helper()
	res := e.Get(c, "/login/"+id)
	if res.StatusCode != http.StatusSeeOther {
		e.T.Fatalf("start: %d", res.StatusCode)
	}
	res = e.Get(c, res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound {
		e.T.Fatalf("authorize: %d", res.StatusCode)
	}
	return res.Header.Get("Location")
}

func publicKeyPEM(k *providertest.SigningKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(k.Signer.Public().(*rsa.PublicKey))
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestOIDCRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		knobs func(e *brokertest.SigninEnv, k *providertest.Knobs)
	}{
		{"OIDC02_NonceMismatch", func(_ *brokertest.SigninEnv, k *providertest.Knobs) { k.Claims = map[string]any{"nonce": "other"} }},
		{"OIDC02_NonceMissing", func(_ *brokertest.SigninEnv, k *providertest.Knobs) { k.Claims = map[string]any{"nonce": nil} }},
		{"OIDC03_AlgNone", func(_ *brokertest.SigninEnv, k *providertest.Knobs) { k.Sign = providertest.SignNone }},
		{"OIDC04_HS256WithPublicKey", func(e *brokertest.SigninEnv, k *providertest.Knobs) {
			// Knobs run under the issuer's lock: Keys() would deadlock here.
			pub := e.OIDCPublicPEM
			k.Sign = func(c map[string]any) string { return providertest.SignHS256(pub, "k1", c) }
		}},
		{"OIDC05_WrongKey", func(_ *brokertest.SigninEnv, k *providertest.Knobs) { k.Key = providertest.NewRSAKey("k1") }},
		{"OIDC06_WrongIss", func(e *brokertest.SigninEnv, k *providertest.Knobs) {
			k.Claims = map[string]any{"iss": e.OIDC.URL() + "/"}
		}},
		{"OIDC07_WrongAud", func(_ *brokertest.SigninEnv, k *providertest.Knobs) { k.Claims = map[string]any{"aud": "someone-else"} }},
		{"OIDC09_Expired", func(e *brokertest.SigninEnv, k *providertest.Knobs) {
			k.Claims = map[string]any{"exp": e.Clk.Now().Add(-time.Hour).Unix(), "iat": e.Clk.Now().Add(-2 * time.Hour).Unix()}
		}},
		{"OIDC16_MixUpIssParameter", func(_ *brokertest.SigninEnv, k *providertest.Knobs) { k.IssParameter = "https://op-b.test" }},
		{"OIDC16_IssParameterRemoved", func(_ *brokertest.SigninEnv, k *providertest.Knobs) { k.OmitIssParameter = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := brokertest.NewSigninEnv(t, brokertest.Options{})
			e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
			e.OIDCPublicPEM = publicKeyPEM(e.OIDC.Keys()[0])
			e.OIDC.Set(func(k *providertest.Knobs) { tc.knobs(e, k) })
			c := brokertest.NewClient(e)
			res := e.Get(c, oidcCallback(e, c, "corp"))
			refused(e, res, http.StatusBadRequest, 0)
			wantAudit(e, "signin.refused", "invalid_response")
		})
	}
}

func TestOIDC01_StateBoundAndSingleUse(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	setState := func(raw, state string) string {
		u, _ := url.Parse(raw)
		q := u.Query()
		if state == "" {
			q.Del("state")
		} else {
			q.Set("state", state)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	t.Run("different", func(t *testing.T) {
		c := brokertest.NewClient(e)
		refused(e, e.Get(c, setState(oidcCallback(e, c, "corp"), "forged")), http.StatusBadRequest, 0)
	})
	t.Run("missing", func(t *testing.T) {
		c := brokertest.NewClient(e)
		refused(e, e.Get(c, setState(oidcCallback(e, c, "corp"), "")), http.StatusBadRequest, 0)
	})
	t.Run("WEB05_AttackersCallbackInVictimsBrowser", func(t *testing.T) {
		attacker, victim := brokertest.NewClient(e), brokertest.NewClient(e)
		cb := oidcCallback(e, attacker, "corp")
		oidcCallback(e, victim, "corp") // the victim has a flow of their own
		refused(e, e.Get(victim, cb), http.StatusBadRequest, 0)
		refused(e, e.Get(brokertest.NewClient(e), cb), http.StatusBadRequest, 0) // and none at all
		wantAudit(e, "signin.refused", "no_pending_flow")
	})
	t.Run("replayed", func(t *testing.T) {
		c := brokertest.NewClient(e)
		cb := oidcCallback(e, c, "corp")
		flowCookie := c.Jar.Cookies(mustURL(e.TS.URL))
		if res := e.Get(c, cb); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("first callback: %d", res.StatusCode)
		}
		users := e.Users()
		for range e.Replicas {
			e.DeleteAllSessions(t)
		}
		// The same callback with the same (copied) flow cookie: the flow is spent.
		replay := brokertest.NewClient(e)
		replay.Jar.SetCookies(mustURL(e.TS.URL), flowCookie)
		refused(e, e.Get(replay, cb), http.StatusBadRequest, users)
		wantAudit(e, "signin.refused", "flow_replayed")
	})
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestOIDC16_FlowCompletedAtAnotherProvider(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.AddOIDC("evil", "evil.example", false, brokertest.AliceClaims())
	c := brokertest.NewClient(e)
	cb := strings.Replace(oidcCallback(e, c, "corp"), "/callback/corp", "/callback/evil", 1)
	refused(e, e.Get(c, cb), http.StatusBadRequest, 0)
	wantAudit(e, "signin.refused", "flow_for_other_provider")
}

func TestOIDCUpstreamAccessDenied(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	e.OIDC.Set(func(k *providertest.Knobs) {
		k.AuthorizeError, k.AuthorizeErrorDescription = "access_denied", "<script>alert(1)</script>"
	})
	c := brokertest.NewClient(e)
	page := refused(e, e.Get(c, oidcCallback(e, c, "corp")), http.StatusForbidden, 0)
	if !strings.Contains(page, "did not allow the sign-in") || strings.Contains(page, "alert(1)") {
		t.Errorf("page:\n%s", page)
	}
}

// samlRequestID decodes the HTTP-Redirect AuthnRequest of a started SAML flow.
var samlIDAttr = regexp.MustCompile(`ID="([^"]+)"`)

func startSAML(e *brokertest.SigninEnv, c *http.Client, id string) string {
	e.T.Helper()
	res := e.Get(c, "/login/"+id)
	if res.StatusCode != http.StatusSeeOther {
		e.T.Fatalf("start: %d", res.StatusCode)
	}
	loc, _ := url.Parse(res.Header.Get("Location"))
	raw, err := base64.StdEncoding.DecodeString(loc.Query().Get("SAMLRequest"))
	if err != nil {
		e.T.Fatal(err)
	}
	xml, _ := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	m := samlIDAttr.FindSubmatch(xml)
	if m == nil {
		e.T.Fatalf("no ID in %s", xml)
	}
	return string(m[1])
}
