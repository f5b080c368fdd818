package signin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/pgtest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// cutoffTokens are what alice's sign-in left: her browser, and web's access and
// refresh tokens issued under that session.
type cutoffTokens struct {
	browser *http.Client
	at, rt  string
}

// newCutoffEnv is two Servers on one database (replica 0 and 1, as
// TestScaleOutTwoReplicas), with alice signed in at corp on replica 0 and web
// holding her tokens.
func newCutoffEnv(t *testing.T, dbURL string) (*brokertest.AuthzEnv, cutoffTokens) {
	t.Helper()
	e := brokertest.NewAuthzEnvWith(t, brokertest.Options{Replicas: 2, DBURL: dbURL})
	b := e.SignedIn()
	q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid profile notes.read")
	status, tok := e.Redeem("web", e.Code(b, q).Get("code"), q.Verifier, brokertest.AppCB)
	if status != 200 {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	ct := cutoffTokens{browser: b, at: tok["access_token"].(string), rt: tok["refresh_token"].(string)}
	for i := range e.Replicas {
		e.Active.Store(int32(i))
		if !introspectActive(e, ct.at) || !introspectActive(e, ct.rt) {
			t.Fatalf("replica %d: tokens inactive before the cut-off", i)
		}
	}
	e.Active.Store(0)
	// Tokens carry whole-second iat; what the cut-off revokes was issued before it.
	e.Clk.Add(time.Second)
	return e, ct
}

// introspectActive asks the token's own client, web, about tok.
func introspectActive(e *brokertest.AuthzEnv, tok string) bool {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.TS.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", e.Secrets["web"])
	res, err := e.TS.Client().Do(req)
	brokertest.Must(e.T, err)
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != 200 {
		e.T.Fatalf("introspection: %d %v", res.StatusCode, out)
	}
	return out["active"] == true
}

// issuedCount is what the token endpoint has issued so far: refresh-token rows
// and token.Issued audit events.
func issuedCount(e *brokertest.AuthzEnv) (refresh, access int) {
	e.T.Helper()
	return e.Count("refresh_tokens"), len(e.Audited("token.issued"))
}

// wantCutOff asserts that ct is useless on every replica — refresh refused with
// invalid_grant, UserInfo 401 invalid_token, introspection inactive for both
// tokens, the browser signed out — and that none of it issued anything.
func wantCutOff(e *brokertest.AuthzEnv, t *testing.T, ct cutoffTokens) {
	t.Helper()
	refreshBefore, accessBefore := issuedCount(e)
	for i := range e.Replicas {
		e.Active.Store(int32(i))
		if st, out := e.Refresh("web", ct.rt); st != 400 || out["error"] != "invalid_grant" || out["access_token"] != nil {
			t.Errorf("replica %d: refresh: %d %v, want 400 invalid_grant", i, st, out)
		}
		res := e.UserinfoCall(http.MethodGet, "/oauth2/userinfo", "Bearer "+ct.at)
		if res.StatusCode != 401 || !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("replica %d: userinfo: %d %q, want 401 invalid_token", i, res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
		if introspectActive(e, ct.at) {
			t.Errorf("replica %d: the access token is still active", i)
		}
		if introspectActive(e, ct.rt) {
			t.Errorf("replica %d: the refresh token is still active", i)
		}
		if res := e.Get(ct.browser, "/account"); res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "/login") {
			t.Errorf("replica %d: the browser is still signed in: %d", i, res.StatusCode)
		}
	}
	e.Active.Store(0)
	if refresh, access := issuedCount(e); refresh != refreshBefore || access != accessBefore {
		t.Errorf("issued after the cut-off: refresh tokens %d → %d, access tokens %d → %d", refreshBefore, refresh, accessBefore, access)
	}
}

// cutOff does what the CLI does: the change first, then CutOff.
func cutOff(e *brokertest.AuthzEnv, change func(ctx context.Context) error, target revoke.Target) (sessions int, refresh int64) {
	e.T.Helper()
	ctx := context.Background()
	brokertest.Must(e.T, change(ctx))
	sessions, refresh, err := revoke.CutOff(ctx, e.DB, target, e.Clk.Now(), e.Cfg.AccessTokenTTL)
	brokertest.Must(e.T, err)
	return sessions, refresh
}

func disableProvider(e *brokertest.AuthzEnv, ctx context.Context) error {
	p, err := e.DB.Providers().Get(ctx, "corp")
	if err != nil {
		return err
	}
	p.Enabled = false
	return e.DB.Providers().Update(ctx, p)
}

func setDisabled(e *brokertest.AuthzEnv, disabled bool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		u, err := e.DB.Users().Get(ctx, alice(e))
		if err != nil {
			return err
		}
		u.Disabled = disabled
		return e.DB.Users().Update(ctx, u)
	}
}

// alice is the ID of the user alice's sign-in created.
func alice(e *brokertest.AuthzEnv) string {
	e.T.Helper()
	us, err := e.DB.Users().List(context.Background())
	brokertest.Must(e.T, err)
	if len(us) != 1 {
		e.T.Fatalf("%d users", len(us))
	}
	return us[0].ID
}

// TestDATA10_ProviderCutOff: disabling or removing a provider ends every session
// that came from it and everything issued under them at once, on both replicas
// (on SQLite and on PostgreSQL): refresh invalid_grant, UserInfo 401
// invalid_token, introspection inactive, nothing new issued.
func TestDATA10_ProviderCutOff(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, tc := range []struct {
			name   string
			change func(e *brokertest.AuthzEnv) func(ctx context.Context) error
		}{
			{"provider disabled", func(e *brokertest.AuthzEnv) func(ctx context.Context) error {
				return func(ctx context.Context) error { return disableProvider(e, ctx) }
			}},
			{"provider removed", func(e *brokertest.AuthzEnv) func(ctx context.Context) error {
				return func(ctx context.Context) error { return e.DB.Providers().Delete(ctx, "corp") }
			}},
		} {
			t.Run(db+"/"+tc.name, func(t *testing.T) {
				dbURL := ""
				if db == "postgres" {
					dbURL = pgtest.URL(t)
				}
				e, ct := newCutoffEnv(t, dbURL)
				sessions, refresh := cutOff(e, tc.change(e), revoke.Target{ProviderID: "corp"})
				if sessions != 1 || refresh != 1 {
					t.Errorf("ended %d sessions and %d refresh tokens, want 1 and 1", sessions, refresh)
				}
				if n := e.Sessions(); n != 0 {
					t.Errorf("%d sessions left", n)
				}
				wantCutOff(e, t, ct)
			})
		}
	}
}

// TestDATA10_UserCutOff: disabling a user, or signing them out, ends their
// sessions and revokes their refresh and access tokens at once on both
// replicas; enabling the user again revives none of it.
func TestDATA10_UserCutOff(t *testing.T) {
	t.Run("user disabled", func(t *testing.T) {
		e, ct := newCutoffEnv(t, "")
		sessions, refresh := cutOff(e, setDisabled(e, true), revoke.Target{UserID: alice(e)})
		if sessions != 1 || refresh != 1 {
			t.Errorf("ended %d sessions and %d refresh tokens, want 1 and 1", sessions, refresh)
		}
		wantCutOff(e, t, ct)
	})
	t.Run("user signed out", func(t *testing.T) {
		e, ct := newCutoffEnv(t, "")
		cutOff(e, func(context.Context) error { return nil }, revoke.Target{UserID: alice(e)})
		wantCutOff(e, t, ct)
		// Still enabled: a new sign-in works and its tokens are good.
		e.Clk.Add(time.Second)
		b := e.SignedIn()
		q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
		if status, tok := e.Redeem("web", e.Code(b, q).Get("code"), q.Verifier, brokertest.AppCB); status != 200 || !introspectActive(e, tok["access_token"].(string)) {
			t.Errorf("sign-in after sign-out: %d %v", status, tok)
		}
	})
	t.Run("enabling again revives nothing", func(t *testing.T) {
		e, ct := newCutoffEnv(t, "")
		cutOff(e, setDisabled(e, true), revoke.Target{UserID: alice(e)})
		e.Clk.Add(time.Second)
		brokertest.Must(t, setDisabled(e, false)(context.Background()))
		wantCutOff(e, t, ct)
	})
}

// TestDATA10_CodeOfCutOffSessionIssuesNothing: a code issued before the cut-off
// and redeemed after it is refused (invalid_grant); the revocation list covers
// only tokens issued before the cut-off.
func TestDATA10_CodeOfCutOffSessionIssuesNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target func(e *brokertest.AuthzEnv) (func(ctx context.Context) error, revoke.Target)
	}{
		{"provider disabled", func(e *brokertest.AuthzEnv) (func(ctx context.Context) error, revoke.Target) {
			return func(ctx context.Context) error { return disableProvider(e, ctx) }, revoke.Target{ProviderID: "corp"}
		}},
		{"user signed out", func(e *brokertest.AuthzEnv) (func(ctx context.Context) error, revoke.Target) {
			return func(context.Context) error { return nil }, revoke.Target{UserID: alice(e)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := brokertest.NewAuthzEnvWith(t, brokertest.Options{Replicas: 2})
			b := e.SignedIn()
			q := brokertest.NewAuthzReq("web", brokertest.AppCB, "openid notes.read")
			code := e.Code(b, q).Get("code")
			e.Clk.Add(time.Second)
			change, target := tc.target(e)
			cutOff(e, change, target)
			refreshBefore, accessBefore := issuedCount(e)
			e.Active.Store(1)
			if status, out := e.Redeem("web", code, q.Verifier, brokertest.AppCB); status != 400 || out["error"] != "invalid_grant" {
				t.Errorf("redeem after the cut-off: %d %v, want 400 invalid_grant", status, out)
			}
			if refresh, access := issuedCount(e); refresh != refreshBefore || access != accessBefore {
				t.Errorf("issued: refresh tokens %d → %d, access tokens %d → %d", refreshBefore, refresh, accessBefore, access)
			}
		})
	}
}

// TestProviderDisabledWithoutCutOffRefusesTokens: a provider disabled without
// the cut-off (a providers file, a database edit) still stops refresh, UserInfo
// and refresh-token introspection of its sessions' tokens: the token endpoint
// and UserInfo check the session's provider.
func TestProviderDisabledWithoutCutOffRefusesTokens(t *testing.T) {
	e, ct := newCutoffEnv(t, "")
	brokertest.Must(t, disableProvider(e, context.Background()))
	refreshBefore, accessBefore := issuedCount(e)
	for i := range e.Replicas {
		e.Active.Store(int32(i))
		if st, out := e.Refresh("web", ct.rt); st != 400 || out["error"] != "invalid_grant" {
			t.Errorf("replica %d: refresh: %d %v, want 400 invalid_grant", i, st, out)
		}
		if res := e.UserinfoCall(http.MethodGet, "/oauth2/userinfo", "Bearer "+ct.at); res.StatusCode != 401 {
			t.Errorf("replica %d: userinfo: %d, want 401", i, res.StatusCode)
		}
		if introspectActive(e, ct.rt) {
			t.Errorf("replica %d: the refresh token is still active", i)
		}
	}
	if refresh, access := issuedCount(e); refresh != refreshBefore || access != accessBefore {
		t.Errorf("issued: refresh tokens %d → %d, access tokens %d → %d", refreshBefore, refresh, accessBefore, access)
	}
}

// TestProviderDisabledDuringSignInCreatesNoSession: a sign-in that completes at
// a provider disabled after it began is refused, although the replica's cached
// provider list (re-read only every hour here) still says enabled: the session
// is recorded only at a provider the database says is enabled.
func TestProviderDisabledDuringSignInCreatesNoSession(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(e *brokertest.AuthzEnv) func(ctx context.Context) error
	}{
		{"disabled", func(e *brokertest.AuthzEnv) func(ctx context.Context) error {
			return func(ctx context.Context) error { return disableProvider(e, ctx) }
		}},
		{"removed", func(e *brokertest.AuthzEnv) func(ctx context.Context) error {
			return func(ctx context.Context) error { return e.DB.Providers().Delete(ctx, "corp") }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := brokertest.NewAuthzEnvWith(t, brokertest.Options{CheckEvery: time.Hour})
			e.SignedIn() // alice exists: the refused sign-in is a returning user's
			c := brokertest.NewClient(e.SigninEnv)
			cb := oidcCallback(e.SigninEnv, c, "corp")
			e.Clk.Add(time.Second) // within the hour: the replica does not re-read the providers
			cutOff(e, tc.change(e), revoke.Target{ProviderID: "corp"})
			identities := e.Count("identities")
			refused(e.SigninEnv, e.Get(c, cb), http.StatusNotFound, 1)
			wantAudit(e.SigninEnv, "signin.refused", "provider_disabled")
			if n := e.Count("identities"); n != identities {
				t.Errorf("identities %d → %d", identities, n)
			}
		})
	}
}

// disableAtRecord disables the provider just before the sign-in's transaction,
// as an admin's disable landing between the callback's check and the session.
type disableAtRecord struct {
	store.Store
}

func (d disableAtRecord) SignIns() store.SignIns { return disablingSignIns{d.Store.SignIns(), d.Store} }

type disablingSignIns struct {
	store.SignIns
	st store.Store
}

func (x disablingSignIns) Record(ctx context.Context, in store.SignIn) ([]string, error) {
	p, err := x.st.Providers().Get(ctx, in.Session.ProviderID)
	if err != nil {
		return nil, err
	}
	p.Enabled = false
	if err := x.st.Providers().Update(ctx, p); err != nil {
		return nil, err
	}
	return x.SignIns.Record(ctx, in)
}

// TestProviderDisabledAtSessionCreatesNoSession: a disable that lands after the
// callback checked the provider, just before the session is recorded, still
// leaves no session: the sign-in's transaction reads the provider itself.
func TestProviderDisabledAtSessionCreatesNoSession(t *testing.T) {
	e := brokertest.NewAuthzEnvWith(t, brokertest.Options{WrapStore: func(st store.Store) store.Store { return disableAtRecord{st} }})
	res, _ := e.SignIn(brokertest.NewClient(e.SigninEnv), "alice@oidc.example")
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("sign-in: %d, want 404", res.StatusCode)
	}
	if n := e.Sessions(); n != 0 {
		t.Errorf("%d sessions", n)
	}
	wantAudit(e.SigninEnv, "signin.refused", "provider_disabled")
}
