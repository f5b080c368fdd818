package oauth_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/oauth"
	"github.com/gatehouse/gatehouse/broker/store"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// lastRejection returns the newest oauth.rejected row and its details.
func lastRejection(t *testing.T, db interface {
	Audit() store.Audit
}) (store.AuditEvent, map[string]any) {
	t.Helper()
	evs, err := db.Audit().List(context.Background(), store.AuditFilter{Action: "oauth.rejected", Limit: 1})
	brokertest.Must(t, err)
	if len(evs) == 0 {
		t.Fatal("no oauth.rejected row")
	}
	var d map[string]any
	brokertest.Must(t, json.Unmarshal(evs[0].Details, &d))
	return evs[0], d
}

// counterValue sums the series of a counter in the server's registry.
func counterValue(t *testing.T, s *broker.Server, name string) float64 {
	t.Helper()
	mfs, err := s.Web().Metrics.Registry.Gather()
	brokertest.Must(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestSecurityRejectionsAreAudited: every security-relevant refusal at the token
// endpoint is exactly one oauth.rejected row (SECURITY.md §0 "Expect"; A5:16.3.3)
// naming the client, the error, a reason code, the IP and the request ID:
// client authentication (AS-CA-01/02/06), code reuse (AS-CODE-01), PKCE
// (AS-PKCE-03/04), code binding (AS-CODE-03), refresh reuse and theft
// (AS-RT-01/03), scope escalation (AS-RT-04, AS-DEL-05), grant type (AS-CODE-07).
func TestSecurityRejectionsAreAudited(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, nil)
	const cb = "https://app1.test/cb"
	redeemed, verifier, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: cb})
	first := fx.Exchange(t, "basic:web1", redeemed, verifier, cb, nil)
	// The refresh tokens come from another grant: reusing the first code
	// revokes its grant.
	code2, verifier2, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: cb})
	second := fx.Exchange(t, "basic:web1", code2, verifier2, cb, nil)
	rt := second.Str("refresh_token")
	rotated := fx.Call(t, "/oauth2/token", "basic:web1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if first.Status != 200 || second.Status != 200 || rotated.Status != 200 {
		t.Fatalf("setup: %s %s", first.Raw, rotated.Raw)
	}
	for _, tc := range []struct {
		name, auth   string
		form         func() url.Values
		status       int
		code, reason string
		actor        string
	}{
		{"AS-CA-01 no credentials", "", func() url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}}
		}, 401, "invalid_client", "no_credentials", "client:svc"},
		{"AS-CA-02 wrong secret", "", func() url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {"guess"}}
		}, 401, "invalid_client", "bad_secret", "client:svc"},
		{"AS-CA-02 unknown client", "", func() url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {"guess"}}
		}, 401, "invalid_client", "bad_secret", "client:nobody"},
		{"AS-CA-06 bad assertion", "", func() url.Values {
			return brokertest.JWTForm(fx.Assertion(t, func(_, c map[string]any) { c["aud"] = "https://elsewhere.test" }))
		}, 401, "invalid_client", "bad_assertion", "client:jwt1"},
		{"AS-CODE-07 grant type", "basic:svc", func() url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}
		}, 400, "unauthorized_client", "unauthorized_client", "client:svc"},
		{"AS-DEL-05 scope", "basic:svc", func() url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}
		}, 400, "invalid_scope", "invalid_scope", "client:svc"},
		{"unknown code", "basic:web1", func() url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {"guess"}, "code_verifier": {verifier}, "redirect_uri": {cb}}
		}, 400, "invalid_grant", "code_unknown", "client:web1"},
		{"AS-CODE-01 code reuse", "basic:web1", func() url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {redeemed}, "code_verifier": {verifier}, "redirect_uri": {cb}}
		}, 400, "invalid_grant", "code_reused", "client:web1"},
		{"AS-PKCE-03 verifier missing", "basic:web1", func() url.Values {
			code, _, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: cb})
			return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cb}}
		}, 400, "invalid_grant", "pkce_verifier_missing", "client:web1"},
		{"AS-PKCE-04 verifier wrong", "basic:web1", func() url.Values {
			code, _, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: cb})
			return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {cb}}
		}, 400, "invalid_grant", "pkce_mismatch", "client:web1"},
		{"AS-CODE-03 other client's code", "basic:web2", func() url.Values {
			code, v, _ := fx.NewCode(t, brokertest.CodeOpts{Client: "web1", Redirect: cb})
			return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {cb},
				"client_id": {"web2"}, "client_secret": {fx.Secrets["web2"]}}
		}, 400, "invalid_grant", "code_other_client", "client:web2"},
		{"AS-RT-04 scope beyond grant", "basic:web1", func() url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated.Str("refresh_token")}, "scope": {"openid write"}}
		}, 400, "invalid_scope", "scope_exceeds_grant", "client:web1"},
		{"AS-RT-01 refresh reuse", "basic:web1", func() url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		}, 400, "invalid_grant", "refresh_token_reused", "client:web1"},
		{"unknown refresh token", "basic:web1", func() url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"guess"}}
		}, 400, "invalid_grant", "refresh_token_unknown", "client:web1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := tc.form()
			auth := tc.auth
			if auth == "basic:web2" {
				auth = "" // web2 authenticates with client_secret_post in the form
			}
			before := fx.Rejections(t, "")
			fx.Call(t, "/oauth2/token", auth, form).WantError(t, tc.status, tc.code)
			if n := fx.Rejections(t, "") - before; n != 1 {
				t.Fatalf("%d audit rows, want 1", n)
			}
			ev, d := lastRejection(t, fx.DB)
			if d["error"] != tc.code || d["reason"] != tc.reason || ev.Actor != tc.actor || ev.IP == "" || ev.RequestID == "" {
				t.Errorf("row %+v details %v", ev, d)
			}
		})
	}
}

// TestRateLimitedRequestsAreCountedNotAudited: a flood refused with 429 writes no
// audit rows (only the refusals before the limit do) and is counted instead.
func TestRateLimitedRequestsAreCountedNotAudited(t *testing.T) {
	fx := brokertest.NewOAuthFixture(t, map[string]string{"GATEHOUSE_OAUTH_RATE_PER_IP": "5"})
	limited := 0
	for range 50 {
		o := fx.Call(t, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {"guess"}})
		if o.Status == 429 {
			limited++
		}
	}
	rows := fx.Rejections(t, "")
	if limited == 0 || rows+limited != 50 {
		t.Fatalf("%d limited, %d rows: want every request either limited or audited", limited, rows)
	}
	if got := counterValue(t, fx.Server, "gatehouse_oauth_rate_limited_total"); int(got) != limited {
		t.Errorf("rate-limited metric %v, want %d", got, limited)
	}
}

// TestSecurityRejectionsAtAuthorizeAreAudited: PKCE refusals (AS-PKCE-01/02) and
// an unregistered redirect URI or unknown client (AS-RED-01) at the
// authorization endpoint are one oauth.rejected row each.
func TestSecurityRejectionsAtAuthorizeAreAudited(t *testing.T) {
	t.Parallel()
	e := brokertest.NewAuthzEnv(t)
	b := e.SignedIn()
	for _, tc := range []struct {
		name, reason, actor string
		mut                 func(url.Values)
	}{
		{"AS-PKCE-01 no challenge", "pkce_missing", "client:web", func(v url.Values) { v.Del("code_challenge") }},
		{"AS-PKCE-02 plain", "pkce_method", "client:web", func(v url.Values) { v.Set("code_challenge_method", "plain") }},
		{"AS-PKCE malformed", "pkce_malformed", "client:web", func(v url.Values) { v.Set("code_challenge", "short") }},
		{"AS-RED-01 redirect", "redirect_uri", "client:web", func(v url.Values) { v.Set("redirect_uri", "https://evil.test/cb") }},
		{"unknown client", "unknown_client", "client:nobody", func(v url.Values) { v.Set("client_id", "nobody") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid")
			tc.mut(q.Params)
			before := len(e.Audited("oauth.rejected"))
			o := e.Start(b, q)
			if o.Fields.Get("code") != "" {
				t.Fatal("a code was issued")
			}
			if n := len(e.Audited("oauth.rejected")) - before; n != 1 {
				t.Fatalf("%d audit rows, want 1", n)
			}
			ev, d := lastRejection(t, e.DB)
			if d["reason"] != tc.reason || ev.Actor != tc.actor || ev.Target != oauth.AuthorizePath || ev.IP == "" || ev.RequestID == "" {
				t.Errorf("row %+v details %v", ev, d)
			}
		})
	}
	e.WantNothingIssued(t)
}
