package broker

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/pgtest"
)

// linkBarrier holds every LinkNewUser call until n have arrived (or a second
// has passed), so concurrent first sign-ins all find the identity missing and
// race to create it.
type linkBarrier struct {
	store.Store
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func (b *linkBarrier) Identities() store.Identities {
	return barrierIdentities{b.Store.Identities(), b}
}

type barrierIdentities struct {
	store.Identities
	b *linkBarrier
}

func (x barrierIdentities) LinkNewUser(ctx context.Context, u store.User, id store.Identity) error {
	x.b.mu.Lock()
	if x.b.arrived++; x.b.arrived == x.b.n {
		close(x.b.all)
	}
	x.b.mu.Unlock()
	select {
	case <-x.b.all:
	case <-time.After(time.Second):
	}
	return x.Identities.LinkNewUser(ctx, u, id)
}

// TestConcurrentFirstSignIn: two first sign-ins of the same new upstream
// identity race to create its user. Both end signed in as one user; the loser
// leaves no user row behind. On SQLite and PostgreSQL.
func TestConcurrentFirstSignIn(t *testing.T) {
	t.Parallel()
	for _, b := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", func(tb testing.TB) string { return "sqlite:" + tb.TempDir() + "/race.db" }},
		{"postgres", pgtest.URL},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			const n = 3
			bar := &linkBarrier{n: n, all: make(chan struct{})}
			e := newSigninEnv(t, envOptions{dbURL: b.url(t), wrapStore: func(s store.Store) store.Store {
				bar.Store = s
				return bar
			}})
			e.addOIDC("corp", "oidc.example", false, aliceClaims())
			clients := make([]*http.Client, n)
			callbacks := make([]string, n)
			for i := range clients {
				clients[i] = newClient(e)
				callbacks[i] = e.oidcCallback(clients[i], "corp")
			}
			codes := make([]int, n)
			var wg sync.WaitGroup
			for i := range clients {
				wg.Go(func() {
					res, err := clients[i].Get(callbacks[i])
					if err != nil {
						t.Error(err)
						return
					}
					res.Body.Close()
					codes[i] = res.StatusCode
				})
			}
			wg.Wait()
			for i, code := range codes {
				if code != http.StatusSeeOther {
					t.Errorf("callback %d: %d\n%s", i, code, e.logs)
				}
			}
			if e.users() != 1 || e.identities() != 1 || e.sessions() != n {
				t.Fatalf("users %d identities %d sessions %d, want 1, 1, %d", e.users(), e.identities(), e.sessions(), n)
			}
			id, _ := e.db.Identities().Get(context.Background(), "corp", "alice-sub")
			for i, c := range clients {
				sess, u, ok := e.srv().currentSession(requestWithCookies(c, e))
				if !ok || u.ID != id.UserID || sess.UserID != id.UserID {
					t.Errorf("client %d: signed in %v as %q, want %q", i, ok, u.ID, id.UserID)
				}
			}
			if got := len(e.audited("user.created")); got != 1 {
				t.Errorf("user.created audited %d times", got)
			}
		})
	}
}
