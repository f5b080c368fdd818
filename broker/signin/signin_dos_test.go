package signin_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestDOS12_SessionsPerUserCapped signs one user in N+1 times: the oldest
// session ends (evicted, audited), the rows stay at N, and the newest work.
func TestDOS12_SessionsPerUserCapped(t *testing.T) {
	t.Parallel()
	const max = 3
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.Srv().SignIn().MaxSessionsPerUser = max
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	var clients []*http.Client
	for range max + 1 {
		e.Clk.Add(time.Second) // "oldest" needs distinct start times
		c := brokertest.NewClient(e)
		if res, _ := e.SignIn(c, "alice@oidc.example"); res.StatusCode != http.StatusOK {
			t.Fatalf("sign-in: %d", res.StatusCode)
		}
		clients = append(clients, c)
	}
	if n := e.Sessions(); n != max {
		t.Fatalf("sessions %d, want the cap %d", n, max)
	}
	if res := e.Get(clients[0], "/account"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the oldest session still works: %d", res.StatusCode)
	}
	for i, c := range clients[1:] {
		if res := e.Get(c, "/account"); res.StatusCode != http.StatusOK {
			t.Errorf("session %d ended: %d", i+1, res.StatusCode)
		}
	}
	if got := len(e.Audited("session.evicted")); got != 1 {
		t.Errorf("session.evicted audited %d times, want 1", got)
	}
}

// TestDOS12_PendingFlowsStoreNothing: pending sign-ins live in the browser's
// encrypted flow cookie, so starting N+1 of them from one address stores no
// row; past the per-address cap (WEB-24) the start is refused with 429.
func TestDOS12_PendingFlowsStoreNothing(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	before := e.Count("replay_cache")
	const burst = 30 // newLoginLimits: 30 at once per address
	for i := range burst + 1 {
		res := e.Get(brokertest.NewClient(e), "/login/corp")
		res.Body.Close()
		want := http.StatusSeeOther
		if i == burst {
			want = http.StatusTooManyRequests
		}
		if res.StatusCode != want {
			t.Fatalf("flow %d: %d, want %d", i, res.StatusCode, want)
		}
	}
	if n := e.Count("replay_cache"); n != before || e.Sessions() != 0 || e.Users() != 0 {
		t.Errorf("pending flows stored rows: replay %d -> %d, sessions %d, users %d", before, n, e.Sessions(), e.Users())
	}
}
