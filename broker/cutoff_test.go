package broker

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
func newCutoffEnv(t *testing.T, dbURL string) (*authzEnv, cutoffTokens) {
	t.Helper()
	e := newAuthzEnvWith(t, envOptions{replicas: 2, dbURL: dbURL})
	b := e.signedIn()
	q := newAuthzReq("web", appCB, "openid profile notes.read")
	status, tok := e.redeem("web", e.code(b, q).Get("code"), q.verifier, appCB)
	if status != 200 {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	ct := cutoffTokens{browser: b, at: tok["access_token"].(string), rt: tok["refresh_token"].(string)}
	for i := range e.replicas {
		e.active.Store(int32(i))
		if !e.introspectActive(ct.at) || !e.introspectActive(ct.rt) {
			t.Fatalf("replica %d: tokens inactive before the cut-off", i)
		}
	}
	e.active.Store(0)
	// Tokens carry whole-second iat; what the cut-off revokes was issued before it.
	e.clk.Add(time.Second)
	return e, ct
}

// introspectActive asks the token's own client, web, about tok.
func (e *authzEnv) introspectActive(tok string) bool {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", e.secrets["web"])
	res, err := e.ts.Client().Do(req)
	must(e.t, err)
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != 200 {
		e.t.Fatalf("introspection: %d %v", res.StatusCode, out)
	}
	return out["active"] == true
}

// issuedCount is what the token endpoint has issued so far: refresh-token rows
// and token.issued audit events.
func (e *authzEnv) issuedCount() (refresh, access int) {
	e.t.Helper()
	return e.count("refresh_tokens"), len(e.audited("token.issued"))
}

// wantCutOff asserts that ct is useless on every replica — refresh refused with
// invalid_grant, UserInfo 401 invalid_token, introspection inactive for both
// tokens, the browser signed out — and that none of it issued anything.
func (e *authzEnv) wantCutOff(t *testing.T, ct cutoffTokens) {
	t.Helper()
	refreshBefore, accessBefore := e.issuedCount()
	for i := range e.replicas {
		e.active.Store(int32(i))
		if st, out := e.refresh("web", ct.rt); st != 400 || out["error"] != "invalid_grant" || out["access_token"] != nil {
			t.Errorf("replica %d: refresh: %d %v, want 400 invalid_grant", i, st, out)
		}
		res := e.userinfoCall(http.MethodGet, "/oauth2/userinfo", "Bearer "+ct.at)
		if res.StatusCode != 401 || !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("replica %d: userinfo: %d %q, want 401 invalid_token", i, res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
		if e.introspectActive(ct.at) {
			t.Errorf("replica %d: the access token is still active", i)
		}
		if e.introspectActive(ct.rt) {
			t.Errorf("replica %d: the refresh token is still active", i)
		}
		if res := e.get(ct.browser, "/account"); res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "/login") {
			t.Errorf("replica %d: the browser is still signed in: %d", i, res.StatusCode)
		}
	}
	e.active.Store(0)
	if refresh, access := e.issuedCount(); refresh != refreshBefore || access != accessBefore {
		t.Errorf("issued after the cut-off: refresh tokens %d → %d, access tokens %d → %d", refreshBefore, refresh, accessBefore, access)
	}
}

// cutOff does what the CLI does: the change first, then CutOff.
func (e *authzEnv) cutOff(change func(ctx context.Context) error, target revoke.Target) (sessions int, refresh int64) {
	e.t.Helper()
	ctx := context.Background()
	must(e.t, change(ctx))
	sessions, refresh, err := revoke.CutOff(ctx, e.db, target, e.clk.Now(), e.srv().cfg.AccessTokenTTL)
	must(e.t, err)
	return sessions, refresh
}

func (e *authzEnv) disableProvider(ctx context.Context) error {
	p, err := e.db.Providers().Get(ctx, "corp")
	if err != nil {
		return err
	}
	p.Enabled = false
	return e.db.Providers().Update(ctx, p)
}

func (e *authzEnv) setDisabled(disabled bool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		u, err := e.db.Users().Get(ctx, e.alice())
		if err != nil {
			return err
		}
		u.Disabled = disabled
		return e.db.Users().Update(ctx, u)
	}
}

// alice is the ID of the user alice's sign-in created.
func (e *authzEnv) alice() string {
	e.t.Helper()
	us, err := e.db.Users().List(context.Background())
	must(e.t, err)
	if len(us) != 1 {
		e.t.Fatalf("%d users", len(us))
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
			change func(e *authzEnv) func(ctx context.Context) error
		}{
			{"provider disabled", func(e *authzEnv) func(ctx context.Context) error { return e.disableProvider }},
			{"provider removed", func(e *authzEnv) func(ctx context.Context) error {
				return func(ctx context.Context) error { return e.db.Providers().Delete(ctx, "corp") }
			}},
		} {
			t.Run(db+"/"+tc.name, func(t *testing.T) {
				dbURL := ""
				if db == "postgres" {
					dbURL = pgtest.URL(t)
				}
				e, ct := newCutoffEnv(t, dbURL)
				sessions, refresh := e.cutOff(tc.change(e), revoke.Target{ProviderID: "corp"})
				if sessions != 1 || refresh != 1 {
					t.Errorf("ended %d sessions and %d refresh tokens, want 1 and 1", sessions, refresh)
				}
				if n := e.sessions(); n != 0 {
					t.Errorf("%d sessions left", n)
				}
				e.wantCutOff(t, ct)
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
		sessions, refresh := e.cutOff(e.setDisabled(true), revoke.Target{UserID: e.alice()})
		if sessions != 1 || refresh != 1 {
			t.Errorf("ended %d sessions and %d refresh tokens, want 1 and 1", sessions, refresh)
		}
		e.wantCutOff(t, ct)
	})
	t.Run("user signed out", func(t *testing.T) {
		e, ct := newCutoffEnv(t, "")
		e.cutOff(func(context.Context) error { return nil }, revoke.Target{UserID: e.alice()})
		e.wantCutOff(t, ct)
		// Still enabled: a new sign-in works and its tokens are good.
		e.clk.Add(time.Second)
		b := e.signedIn()
		q := newAuthzReq("web", appCB, "openid notes.read")
		if status, tok := e.redeem("web", e.code(b, q).Get("code"), q.verifier, appCB); status != 200 || !e.introspectActive(tok["access_token"].(string)) {
			t.Errorf("sign-in after sign-out: %d %v", status, tok)
		}
	})
	t.Run("enabling again revives nothing", func(t *testing.T) {
		e, ct := newCutoffEnv(t, "")
		e.cutOff(e.setDisabled(true), revoke.Target{UserID: e.alice()})
		e.clk.Add(time.Second)
		must(t, e.setDisabled(false)(context.Background()))
		e.wantCutOff(t, ct)
	})
}

// TestDATA10_CodeOfCutOffSessionIssuesNothing: a code issued before the cut-off
// and redeemed after it is refused (invalid_grant); the revocation list covers
// only tokens issued before the cut-off.
func TestDATA10_CodeOfCutOffSessionIssuesNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target func(e *authzEnv) (func(ctx context.Context) error, revoke.Target)
	}{
		{"provider disabled", func(e *authzEnv) (func(ctx context.Context) error, revoke.Target) {
			return e.disableProvider, revoke.Target{ProviderID: "corp"}
		}},
		{"user signed out", func(e *authzEnv) (func(ctx context.Context) error, revoke.Target) {
			return func(context.Context) error { return nil }, revoke.Target{UserID: e.alice()}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAuthzEnvWith(t, envOptions{replicas: 2})
			b := e.signedIn()
			q := newAuthzReq("web", appCB, "openid notes.read")
			code := e.code(b, q).Get("code")
			e.clk.Add(time.Second)
			e.cutOff(tc.target(e))
			refreshBefore, accessBefore := e.issuedCount()
			e.active.Store(1)
			if status, out := e.redeem("web", code, q.verifier, appCB); status != 400 || out["error"] != "invalid_grant" {
				t.Errorf("redeem after the cut-off: %d %v, want 400 invalid_grant", status, out)
			}
			if refresh, access := e.issuedCount(); refresh != refreshBefore || access != accessBefore {
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
	must(t, e.disableProvider(context.Background()))
	refreshBefore, accessBefore := e.issuedCount()
	for i := range e.replicas {
		e.active.Store(int32(i))
		if st, out := e.refresh("web", ct.rt); st != 400 || out["error"] != "invalid_grant" {
			t.Errorf("replica %d: refresh: %d %v, want 400 invalid_grant", i, st, out)
		}
		if res := e.userinfoCall(http.MethodGet, "/oauth2/userinfo", "Bearer "+ct.at); res.StatusCode != 401 {
			t.Errorf("replica %d: userinfo: %d, want 401", i, res.StatusCode)
		}
		if e.introspectActive(ct.rt) {
			t.Errorf("replica %d: the refresh token is still active", i)
		}
	}
	if refresh, access := e.issuedCount(); refresh != refreshBefore || access != accessBefore {
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
		change func(e *authzEnv) func(ctx context.Context) error
	}{
		{"disabled", func(e *authzEnv) func(ctx context.Context) error { return e.disableProvider }},
		{"removed", func(e *authzEnv) func(ctx context.Context) error {
			return func(ctx context.Context) error { return e.db.Providers().Delete(ctx, "corp") }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAuthzEnvWith(t, envOptions{checkEvery: time.Hour})
			e.signedIn() // alice exists: the refused sign-in is a returning user's
			c := newClient(e.signinEnv)
			cb := e.oidcCallback(c, "corp")
			e.clk.Add(time.Second) // within the hour: the replica does not re-read the providers
			e.cutOff(tc.change(e), revoke.Target{ProviderID: "corp"})
			identities := e.count("identities")
			e.refused(e.get(c, cb), http.StatusNotFound, 1)
			e.wantAudit("signin.refused", "provider_disabled")
			if n := e.count("identities"); n != identities {
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
	e := newAuthzEnvWith(t, envOptions{wrapStore: func(st store.Store) store.Store { return disableAtRecord{st} }})
	res, _ := e.signIn(newClient(e.signinEnv), "alice@oidc.example")
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("sign-in: %d, want 404", res.StatusCode)
	}
	if n := e.sessions(); n != 0 {
		t.Errorf("%d sessions", n)
	}
	e.wantAudit("signin.refused", "provider_disabled")
}
