package signin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/signin"
	"github.com/gatehouse/gatehouse/broker/upstream"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

func allowIdPInitiated(s *upstream.Spec) { s.SAML.AllowIDPInitiated = true }

// unsolicited is a crafted IdP-initiated response (no InResponseTo).
func unsolicited(e *brokertest.SigninEnv) crafted {
	cr := craftResponse(e, "uni", "")
	cr.A.InResponseTo, cr.R.InResponseTo = "", ""
	return cr
}

// TestSAML35_IdPInitiatedInterstitial: with IdP-initiated SSO enabled for the
// provider, an unsolicited response is verified but signs nobody in until the
// person confirms on the interstitial with a CSRF-protected POST; it stays
// replay-protected and audience-checked, and an SP-initiated response cannot
// take that path (SAML-24).
func TestSAML35_IdPInitiatedInterstitial(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddSAML("uni", "saml.example", false, brokertest.Carol(), allowIdPInitiated)
	c := brokertest.NewClient(e)
	cr := unsolicited(e)
	cr.RelayState = "https://evil.test/" // ignored (SAML-36)
	res := postACS(e, c, "uni", cr)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/saml/uni/continue" {
		t.Fatalf("unsolicited response: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if e.Sessions() != 0 || e.Users() != 0 {
		t.Fatal("signed in before the person confirmed")
	}
	wantAuditAction(e, "signin.idp_initiated")
	res, page := e.Follow(c, e.Get(c, "/saml/uni/continue"))
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="continue-confirm"`) || !strings.Contains(page, "Carol") {
		t.Fatalf("interstitial: %d\n%s", res.StatusCode, page)
	}
	form := brokertest.FormFields(t, page, "/saml/uni/continue")
	flowCopy := jarCookie(c, e, signin.SAMLFlowCookieSecure)

	// Without the CSRF token, or cross-site: refused, nobody signed in.
	if res := e.PostForm(c, "/saml/uni/continue", url.Values{}); res.StatusCode != http.StatusForbidden {
		t.Errorf("confirm without CSRF token: %d", res.StatusCode)
	}
	if e.Sessions() != 0 {
		t.Fatal("signed in without a CSRF token")
	}
	res = e.PostForm(c, "/saml/uni/continue", form)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account" || e.Sessions() != 1 || e.Users() != 1 {
		t.Fatalf("confirm: %d %s, sessions %d", res.StatusCode, res.Header.Get("Location"), e.Sessions())
	}
	e.DeleteAllSessions(t)

	// The confirmed flow is spent, even from a copy of its cookie.
	c.Jar.SetCookies(mustURL(e.TS.URL), []*http.Cookie{flowCopy})
	_, page = e.Follow(c, e.Get(c, "/saml/uni/continue"))
	refused(e, e.PostForm(c, "/saml/uni/continue", brokertest.FormFields(t, page, "/saml/uni/continue")), http.StatusBadRequest, 1)
	wantAudit(e, "signin.refused", "flow_replayed")

	// The same assertion again: the replay cache refuses it at the ACS.
	refused(e, postACS(e, brokertest.NewClient(e), "uni", cr), http.StatusBadRequest, 1)
	wantAudit(e, "signin.refused", "replay")

	// Another SP's audience: refused at the ACS, no interstitial.
	bad := unsolicited(e)
	bad.A.Audience = "https://other-sp.test/"
	refused(e, postACS(e, brokertest.NewClient(e), "uni", bad), http.StatusBadRequest, 1)

	// SAML-24: a response to an AuthnRequest, posted without its flow cookie.
	c2 := brokertest.NewClient(e)
	solicited := craftResponse(e, "uni", startSAML(e, c2, "uni"))
	refused(e, postACS(e, brokertest.NewClient(e), "uni", solicited), http.StatusBadRequest, 1)

	// A browser with a pending SP-initiated flow gets no unsolicited sign-in
	// past the interstitial.
	c3 := brokertest.NewClient(e)
	startSAML(e, c3, "uni")
	refused(e, postACS(e, c3, "uni", unsolicited(e)), http.StatusBadRequest, 1)

	// The interstitial with nothing pending.
	if res := e.Get(brokertest.NewClient(e), "/saml/uni/continue"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("interstitial without a pending sign-in: %d", res.StatusCode)
	}
}

// TestSAML35_IdPInitiatedOffByDefault: a provider that did not enable it
// refuses an unsolicited response outright, nothing stored, audited.
func TestSAML35_IdPInitiatedOffByDefault(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, brokertest.Options{})
	refused(e, postACS(e, brokertest.NewClient(e), "uni", unsolicited(e)), http.StatusBadRequest, 0)
	wantAudit(e, "signin.refused", "no_pending_flow")
	if res := e.Get(brokertest.NewClient(e), "/saml/uni/continue"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("interstitial: %d", res.StatusCode)
	}
}

func jarCookie(c *http.Client, e *brokertest.SigninEnv, name string) *http.Cookie {
	for _, ck := range c.Jar.Cookies(mustURL(e.TS.URL)) {
		if ck.Name == name {
			return ck
		}
	}
	e.T.Fatalf("no cookie %s", name)
	return nil
}

func wantAuditAction(e *brokertest.SigninEnv, action string) {
	e.T.Helper()
	if len(e.Audited(action)) == 0 {
		e.T.Errorf("no %s audit record", action)
	}
}
