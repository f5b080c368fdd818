package broker

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/signin"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

func allowIdPInitiated(s *upstream.Spec) { s.SAML.AllowIDPInitiated = true }

// unsolicited is a crafted IdP-initiated response (no InResponseTo).
func (e *signinEnv) unsolicited() crafted {
	cr := e.crafted("uni", "")
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
	e := newSigninEnv(t, envOptions{})
	e.addSAML("uni", "saml.example", false, carol(), allowIdPInitiated)
	c := newClient(e)
	cr := e.unsolicited()
	cr.RelayState = "https://evil.test/" // ignored (SAML-36)
	res := e.postACS(c, "uni", cr)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/saml/uni/continue" {
		t.Fatalf("unsolicited response: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if e.sessions() != 0 || e.users() != 0 {
		t.Fatal("signed in before the person confirmed")
	}
	e.wantAuditAction("signin.idp_initiated")
	res, page := e.follow(c, e.get(c, "/saml/uni/continue"))
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="continue-confirm"`) || !strings.Contains(page, "Carol") {
		t.Fatalf("interstitial: %d\n%s", res.StatusCode, page)
	}
	form := formFields(t, page, "/saml/uni/continue")
	flowCopy := jarCookie(c, e, signin.SAMLFlowCookieSecure)

	// Without the CSRF token, or cross-site: refused, nobody signed in.
	if res := e.postForm(c, "/saml/uni/continue", url.Values{}); res.StatusCode != http.StatusForbidden {
		t.Errorf("confirm without CSRF token: %d", res.StatusCode)
	}
	if e.sessions() != 0 {
		t.Fatal("signed in without a CSRF token")
	}
	res = e.postForm(c, "/saml/uni/continue", form)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account" || e.sessions() != 1 || e.users() != 1 {
		t.Fatalf("confirm: %d %s, sessions %d", res.StatusCode, res.Header.Get("Location"), e.sessions())
	}
	e.replicas[0].deleteAllSessionsForTest(t)

	// The confirmed flow is spent, even from a copy of its cookie.
	c.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{flowCopy})
	_, page = e.follow(c, e.get(c, "/saml/uni/continue"))
	e.refused(e.postForm(c, "/saml/uni/continue", formFields(t, page, "/saml/uni/continue")), http.StatusBadRequest, 1)
	e.wantAudit("signin.refused", "flow_replayed")

	// The same assertion again: the replay cache refuses it at the ACS.
	e.refused(e.postACS(newClient(e), "uni", cr), http.StatusBadRequest, 1)
	e.wantAudit("signin.refused", "replay")

	// Another SP's audience: refused at the ACS, no interstitial.
	bad := e.unsolicited()
	bad.A.Audience = "https://other-sp.test/"
	e.refused(e.postACS(newClient(e), "uni", bad), http.StatusBadRequest, 1)

	// SAML-24: a response to an AuthnRequest, posted without its flow cookie.
	c2 := newClient(e)
	solicited := e.crafted("uni", e.startSAML(c2, "uni"))
	e.refused(e.postACS(newClient(e), "uni", solicited), http.StatusBadRequest, 1)

	// A browser with a pending SP-initiated flow gets no unsolicited sign-in
	// past the interstitial.
	c3 := newClient(e)
	e.startSAML(c3, "uni")
	e.refused(e.postACS(c3, "uni", e.unsolicited()), http.StatusBadRequest, 1)

	// The interstitial with nothing pending.
	if res := e.get(newClient(e), "/saml/uni/continue"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("interstitial without a pending sign-in: %d", res.StatusCode)
	}
}

// TestSAML35_IdPInitiatedOffByDefault: a provider that did not enable it
// refuses an unsolicited response outright, nothing stored, audited.
func TestSAML35_IdPInitiatedOffByDefault(t *testing.T) {
	t.Parallel()
	e := samlEnv(t, envOptions{})
	e.refused(e.postACS(newClient(e), "uni", e.unsolicited()), http.StatusBadRequest, 0)
	e.wantAudit("signin.refused", "no_pending_flow")
	if res := e.get(newClient(e), "/saml/uni/continue"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("interstitial: %d", res.StatusCode)
	}
}

func jarCookie(c *http.Client, e *signinEnv, name string) *http.Cookie {
	for _, ck := range c.Jar.Cookies(mustURL(e.ts.URL)) {
		if ck.Name == name {
			return ck
		}
	}
	e.t.Fatalf("no cookie %s", name)
	return nil
}

func (e *signinEnv) wantAuditAction(action string) {
	e.t.Helper()
	if len(e.audited(action)) == 0 {
		e.t.Errorf("no %s audit record", action)
	}
}
