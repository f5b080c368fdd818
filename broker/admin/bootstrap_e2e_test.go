package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/admin"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// bootstrapLink makes a bootstrap link as `gatehouse admin bootstrap` does.
func (w *world) bootstrapLink() string {
	w.t.Helper()
	tok, _, err := w.ops().NewBootstrapToken(w.t.Context())
	brokertest.Must(w.t, err)
	return admin.BootstrapPath + "?" + url.Values{"token": {tok}}.Encode()
}

// useLink opens link with c, signs in as email when asked, confirms, and
// returns the last response and page.
func (w *world) useLink(c *http.Client, link, email string) (*http.Response, string) {
	w.t.Helper()
	res, page := w.Follow(c, w.Get(c, link))
	if res.Request.URL.Path == "/login" {
		f := brokertest.FormFields(w.t, page, "/login")
		f.Set("email", email)
		res, page = w.Follow(c, w.PostForm(c, "/login", f))
	}
	if res.StatusCode != 200 || !strings.Contains(page, `data-testid="admin-bootstrap"`) {
		return res, page
	}
	return w.Follow(c, w.PostForm(c, admin.BootstrapPath, brokertest.FormFields(w.t, page, admin.BootstrapPath)))
}

// TestBootstrap: the link sends the person to sign in afresh, then makes them
// admin once (admin.bootstrapped); a second use, an expired link, a forged one,
// or any link once an admin exists grants nothing and shows a readable page.
func TestBootstrap(t *testing.T) {
	t.Run("once", func(t *testing.T) {
		w := newWorld(t)
		link := w.bootstrapLink()
		bob := brokertest.NewClient(w.SigninEnv)
		res, page := w.useLink(bob, link, "bob@uni.example")
		if res.StatusCode != 200 || res.Request.URL.Path != "/admin" || !strings.Contains(page, `data-testid="admin-home"`) {
			t.Fatalf("after the link: %d at %s", res.StatusCode, res.Request.URL)
		}
		if reqs := w.OIDC.AuthorizeRequests(); len(reqs) != 0 {
			t.Fatalf("corp was asked: %v", reqs)
		}
		bobID := w.userID("bob@uni.example")
		if evs := w.events("admin.bootstrapped"); len(evs) != 1 || evs[0].Actor != bobID {
			t.Fatalf("admin.bootstrapped events %+v", evs)
		}
		// Again, by someone else: refused, nothing granted.
		carol := brokertest.NewClient(w.SigninEnv)
		res, page = w.Follow(carol, w.Get(carol, link))
		if res.StatusCode != http.StatusGone || !strings.Contains(page, "used already") {
			t.Fatalf("second use: %d %s", res.StatusCode, page)
		}
		if as, _ := w.ops().Admins(t.Context()); len(as) != 1 || as[0].ID != bobID {
			t.Fatalf("admins %+v", as)
		}
		if _, _, err := w.ops().NewBootstrapToken(t.Context()); err == nil {
			t.Fatal("a new link was made with an admin present")
		}
	})
	t.Run("fresh sign-in", func(t *testing.T) {
		// A session older than the admin age signs in again, with prompt=login.
		w := newWorld(t)
		c, _ := w.signIn("bob@uni.example")
		w.Clk.Add(20 * time.Minute)
		link := w.bootstrapLink()
		res, page := w.useLink(c, link, "bob@uni.example")
		if res.Request.URL.Path != "/admin" {
			t.Fatalf("after the link: %d at %s %s", res.StatusCode, res.Request.URL, page)
		}
	})
	for _, tc := range []struct {
		name   string
		link   func(w *world) string
		status int
	}{
		{"expired", func(w *world) string {
			l := w.bootstrapLink()
			w.Clk.Add(operations.BootstrapTTL + time.Second)
			return l
		}, http.StatusGone},
		{"forged", func(*world) string { return admin.BootstrapPath + "?token=AAAAbm90LWEtdG9rZW4" }, http.StatusGone},
		{"no token", func(*world) string { return admin.BootstrapPath }, http.StatusGone},
		{"an admin exists", func(w *world) string {
			l := w.bootstrapLink()
			brokertest.Must(t, w.DB.Users().Create(t.Context(), store.User{ID: "root", Email: "root@corp.example"}))
			brokertest.Must(t, w.ops().GrantRole(t.Context(), opsActor, "root", store.RoleAdmin))
			return l
		}, http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			link := tc.link(w)
			users := w.Users()
			c := brokertest.NewClient(w.SigninEnv)
			res, page := w.useLink(c, link, "bob@uni.example")
			if res.StatusCode != tc.status || !strings.Contains(page, "gatehouse") {
				t.Fatalf("%d %s, want %d and a page saying what to do", res.StatusCode, page, tc.status)
			}
			if w.Users() != users || len(w.events("admin.bootstrapped")) != 0 {
				t.Fatalf("%d users, bootstrapped events %v", w.Users(), w.events("admin.bootstrapped"))
			}
		})
	}
}

// TestAdminAPIRegisteredAtStart: the built-in Admin API exists from the start
// with gatehouse:admin limited to admins, and follows the issuer when it moves.
func TestAdminAPIRegisteredAtStart(t *testing.T) {
	w := newWorld(t)
	a := w.api(admin.APIID)
	if a.Audience != w.TS.URL+"/api/admin/v1" || len(a.Scopes) != 1 || a.Scopes[0].Name != admin.Scope ||
		len(a.Scopes[0].Roles) != 1 || a.Scopes[0].Roles[0] != store.RoleAdmin {
		t.Fatalf("Admin API %+v", a)
	}
	a.Audience = "https://old-issuer.test/api/admin/v1"
	brokertest.Must(t, w.DB.APIs().Update(t.Context(), a))
	brokertest.Must(t, w.Srv().Admin().EnsureAdminAPI(t.Context()))
	if got := w.api(admin.APIID); got.Audience != w.TS.URL+"/api/admin/v1" {
		t.Fatalf("audience %q after a restart", got.Audience)
	}
}
