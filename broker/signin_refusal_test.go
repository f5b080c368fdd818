package broker

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
)

// refused asserts the error page with status, and that nothing was created.
func (e *signinEnv) refused(res *http.Response, status int, usersBefore int) string {
	e.t.Helper()
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != status || !bytes.Contains(b, []byte(`data-testid="error"`)) {
		e.t.Fatalf("status %d (want %d), error page %v:\n%s", res.StatusCode, status, bytes.Contains(b, []byte(`data-testid="error"`)), b)
	}
	if n := e.sessions(); n != 0 {
		e.t.Errorf("%d sessions after a refusal", n)
	}
	if n := e.users(); n != usersBefore {
		e.t.Errorf("users %d after a refusal, want %d", n, usersBefore)
	}
	for _, c := range res.Cookies() {
		if c.Name == web.BrowserCookieSecure && c.MaxAge >= 0 {
			e.t.Errorf("refusal set a session cookie")
		}
	}
	return string(b)
}

// wantAudit asserts at least one refusal record with reason.
func (e *signinEnv) wantAudit(action, reason string) {
	e.t.Helper()
	for _, ev := range e.audited(action) {
		if strings.Contains(string(ev.Details), `"reason":"`+reason+`"`) {
			return
		}
	}
	e.t.Errorf("no %s audit record with reason %s", action, reason)
}

// oidcCallback starts a sign-in at provider id and returns the callback URL the
// OP sends the browser back to, without visiting it.
func (e *signinEnv) oidcCallback(c *http.Client, id string) string {
	e.t.Helper()
	res := e.get(c, "/login/"+id)
	if res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("start: %d", res.StatusCode)
	}
	res = e.get(c, res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound {
		e.t.Fatalf("authorize: %d", res.StatusCode)
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
		knobs func(e *signinEnv, k *providertest.Knobs)
	}{
		{"OIDC02_NonceMismatch", func(_ *signinEnv, k *providertest.Knobs) { k.Claims = map[string]any{"nonce": "other"} }},
		{"OIDC02_NonceMissing", func(_ *signinEnv, k *providertest.Knobs) { k.Claims = map[string]any{"nonce": nil} }},
		{"OIDC03_AlgNone", func(_ *signinEnv, k *providertest.Knobs) { k.Sign = providertest.SignNone }},
		{"OIDC04_HS256WithPublicKey", func(e *signinEnv, k *providertest.Knobs) {
			// Knobs run under the issuer's lock: Keys() would deadlock here.
			pub := e.oidcPublicPEM
			k.Sign = func(c map[string]any) string { return providertest.SignHS256(pub, "k1", c) }
		}},
		{"OIDC05_WrongKey", func(_ *signinEnv, k *providertest.Knobs) { k.Key = providertest.NewRSAKey("k1") }},
		{"OIDC06_WrongIss", func(e *signinEnv, k *providertest.Knobs) { k.Claims = map[string]any{"iss": e.oidc.URL() + "/"} }},
		{"OIDC07_WrongAud", func(_ *signinEnv, k *providertest.Knobs) { k.Claims = map[string]any{"aud": "someone-else"} }},
		{"OIDC09_Expired", func(e *signinEnv, k *providertest.Knobs) {
			k.Claims = map[string]any{"exp": e.clk.Now().Add(-time.Hour).Unix(), "iat": e.clk.Now().Add(-2 * time.Hour).Unix()}
		}},
		{"OIDC16_MixUpIssParameter", func(_ *signinEnv, k *providertest.Knobs) { k.IssParameter = "https://op-b.test" }},
		{"OIDC16_IssParameterRemoved", func(_ *signinEnv, k *providertest.Knobs) { k.OmitIssParameter = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newSigninEnv(t, envOptions{})
			e.addOIDC("corp", "oidc.example", false, aliceClaims())
			e.oidcPublicPEM = publicKeyPEM(e.oidc.Keys()[0])
			e.oidc.Set(func(k *providertest.Knobs) { tc.knobs(e, k) })
			c := newClient(e)
			res := e.get(c, e.oidcCallback(c, "corp"))
			e.refused(res, http.StatusBadRequest, 0)
			e.wantAudit("signin.refused", "invalid_response")
		})
	}
}

func TestOIDC01_StateBoundAndSingleUse(t *testing.T) {
	t.Parallel()
	e := newSigninEnv(t, envOptions{})
	e.addOIDC("corp", "oidc.example", false, aliceClaims())
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
		c := newClient(e)
		e.refused(e.get(c, setState(e.oidcCallback(c, "corp"), "forged")), http.StatusBadRequest, 0)
	})
	t.Run("missing", func(t *testing.T) {
		c := newClient(e)
		e.refused(e.get(c, setState(e.oidcCallback(c, "corp"), "")), http.StatusBadRequest, 0)
	})
	t.Run("WEB05_AttackersCallbackInVictimsBrowser", func(t *testing.T) {
		attacker, victim := newClient(e), newClient(e)
		cb := e.oidcCallback(attacker, "corp")
		e.oidcCallback(victim, "corp") // the victim has a flow of their own
		e.refused(e.get(victim, cb), http.StatusBadRequest, 0)
		e.refused(e.get(newClient(e), cb), http.StatusBadRequest, 0) // and none at all
		e.wantAudit("signin.refused", "no_pending_flow")
	})
	t.Run("replayed", func(t *testing.T) {
		c := newClient(e)
		cb := e.oidcCallback(c, "corp")
		flowCookie := c.Jar.Cookies(mustURL(e.ts.URL))
		if res := e.get(c, cb); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("first callback: %d", res.StatusCode)
		}
		users := e.users()
		for _, x := range e.replicas {
			x.deleteAllSessionsForTest(t)
		}
		// The same callback with the same (copied) flow cookie: the flow is spent.
		replay := newClient(e)
		replay.Jar.SetCookies(mustURL(e.ts.URL), flowCookie)
		e.refused(e.get(replay, cb), http.StatusBadRequest, users)
		e.wantAudit("signin.refused", "flow_replayed")
	})
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// deleteAllSessionsForTest empties the sessions table so refused() can assert
// that a later step created none.
func (s *Server) deleteAllSessionsForTest(t *testing.T) {
	t.Helper()
	if _, err := s.store.Sessions().DeleteExpired(t.Context(), s.Now().Add(100*365*24*time.Hour), time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func TestOIDC16_FlowCompletedAtAnotherProvider(t *testing.T) {
	t.Parallel()
	e := newSigninEnv(t, envOptions{})
	e.addOIDC("corp", "oidc.example", false, aliceClaims())
	e.addOIDC("evil", "evil.example", false, aliceClaims())
	c := newClient(e)
	cb := strings.Replace(e.oidcCallback(c, "corp"), "/callback/corp", "/callback/evil", 1)
	e.refused(e.get(c, cb), http.StatusBadRequest, 0)
	e.wantAudit("signin.refused", "flow_for_other_provider")
}

func TestOIDCUpstreamAccessDenied(t *testing.T) {
	t.Parallel()
	e := newSigninEnv(t, envOptions{})
	e.addOIDC("corp", "oidc.example", false, aliceClaims())
	e.oidc.Set(func(k *providertest.Knobs) {
		k.AuthorizeError, k.AuthorizeErrorDescription = "access_denied", "<script>alert(1)</script>"
	})
	c := newClient(e)
	page := e.refused(e.get(c, e.oidcCallback(c, "corp")), http.StatusForbidden, 0)
	if !strings.Contains(page, "did not allow the sign-in") || strings.Contains(page, "alert(1)") {
		t.Errorf("page:\n%s", page)
	}
}

// samlRequestID decodes the HTTP-Redirect AuthnRequest of a started SAML flow.
var samlIDAttr = regexp.MustCompile(`ID="([^"]+)"`)

func (e *signinEnv) startSAML(c *http.Client, id string) string {
	e.t.Helper()
	res := e.get(c, "/login/"+id)
	if res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("start: %d", res.StatusCode)
	}
	loc, _ := url.Parse(res.Header.Get("Location"))
	raw, err := base64.StdEncoding.DecodeString(loc.Query().Get("SAMLRequest"))
	if err != nil {
		e.t.Fatal(err)
	}
	xml, _ := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	m := samlIDAttr.FindSubmatch(xml)
	if m == nil {
		e.t.Fatalf("no ID in %s", xml)
	}
	return string(m[1])
}
