package signin_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/pgtest"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// barrier holds each caller of wait until n have arrived (or a second has
// passed), so concurrent requests reach one store call together.
type barrier struct {
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, all: make(chan struct{})} }

func (b *barrier) wait() {
	b.mu.Lock()
	if b.arrived++; b.arrived == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
	case <-time.After(time.Second):
	}
}

// concurrently sends n requests at once and returns their status codes.
func concurrently(t *testing.T, n int, send func(i int) (*http.Response, error)) []int {
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := send(i)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			codes[i] = res.StatusCode
		})
	}
	wg.Wait()
	return codes
}

// sharedBackends are the databases replica and race tests run on.
var sharedBackends = []struct {
	name string
	url  func(testing.TB) string
}{
	{"sqlite", func(tb testing.TB) string { return "sqlite:" + tb.TempDir() + "/shared.db" }},
	{"postgres", pgtest.URL},
}

// linkBarrier holds every LinkNewUser call at a barrier, so concurrent first
// sign-ins all find the identity missing and race to create it.
type linkBarrier struct {
	store.Store
	*barrier
}

func (b linkBarrier) Identities() store.Identities {
	return barrierIdentities{b.Store.Identities(), b.barrier}
}

type barrierIdentities struct {
	store.Identities
	b *barrier
}

func (x barrierIdentities) LinkNewUser(ctx context.Context, u store.User, id store.Identity) error {
	x.b.wait()
	return x.Identities.LinkNewUser(ctx, u, id)
}

// TestConcurrentFirstSignIn: two first sign-ins of the same new upstream
// identity race to create its user. Both end signed in as one user; the loser
// leaves no user row behind. On SQLite and PostgreSQL.
func TestConcurrentFirstSignIn(t *testing.T) {
	t.Parallel()
	for _, b := range sharedBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			const n = 3
			bar := newBarrier(n)
			e := brokertest.NewSigninEnv(t, brokertest.Options{DBURL: b.url(t), WrapStore: func(s store.Store) store.Store {
				return linkBarrier{s, bar}
			}})
			e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
			clients := make([]*http.Client, n)
			callbacks := make([]string, n)
			for i := range clients {
				clients[i] = brokertest.NewClient(e)
				callbacks[i] = oidcCallback(e, clients[i], "corp")
			}
			codes := concurrently(t, n, func(i int) (*http.Response, error) { return clients[i].Get(callbacks[i]) })
			for i, code := range codes {
				if code != http.StatusSeeOther {
					t.Errorf("callback %d: %d\n%s", i, code, e.Logs)
				}
			}
			if e.Users() != 1 || e.Identities() != 1 || e.Sessions() != n {
				t.Fatalf("users %d identities %d sessions %d, want 1, 1, %d", e.Users(), e.Identities(), e.Sessions(), n)
			}
			id, _ := e.DB.Identities().Get(context.Background(), "corp", "alice-sub")
			for i, c := range clients {
				sess, u, ok := e.Srv().Web().CurrentSession(requestWithCookies(c, e))
				if !ok || u.ID != id.UserID || sess.UserID != id.UserID {
					t.Errorf("client %d: signed in %v as %q, want %q", i, ok, u.ID, id.UserID)
				}
			}
			if got := len(e.Audited("user.created")); got != 1 {
				t.Errorf("user.created audited %d times", got)
			}
		})
	}
}

// recordBarrier holds every SignIns.Record call at a barrier, so concurrent
// submissions of one response all pass the pre-check for a spent flow and meet in
// the sign-in transaction.
type recordBarrier struct {
	store.Store
	*barrier
}

func (b recordBarrier) SignIns() store.SignIns { return barrierSignIns{b.Store.SignIns(), b.barrier} }

type barrierSignIns struct {
	store.SignIns
	b *barrier
}

func (x barrierSignIns) Record(ctx context.Context, in store.SignIn) ([]string, error) {
	x.b.wait()
	return x.SignIns.Record(ctx, in)
}

// TestOIDC01_ConcurrentDoubleSubmission: the same SAML response posted twice at
// once from the browser that started the flow signs in exactly once; the other
// submission is refused as a replayed flow and leaves no session. On SQLite and
// PostgreSQL.
func TestOIDC01_ConcurrentDoubleSubmission(t *testing.T) {
	t.Parallel()
	for _, b := range sharedBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			bar := newBarrier(2)
			e := brokertest.NewSigninEnv(t, brokertest.Options{DBURL: b.url(t), WrapStore: func(s store.Store) store.Store {
				return recordBarrier{s, bar}
			}})
			e.AddSAML("uni", "saml.example", false, brokertest.Carol())
			c := brokertest.NewClient(e)
			body := url.Values{"SAMLResponse": {craftResponse(e, "uni", startSAML(e, c, "uni")).encode()}}.Encode()
			codes := concurrently(t, 2, func(int) (*http.Response, error) {
				req, _ := http.NewRequest(http.MethodPost, e.TS.URL+"/saml/uni/acs", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return c.Do(req)
			})
			slices.Sort(codes)
			if codes[0] != http.StatusSeeOther || codes[1] != http.StatusBadRequest {
				t.Fatalf("statuses %v, want one sign-in (303) and one refusal (400)", codes)
			}
			if n := e.Sessions(); n != 1 {
				t.Errorf("%d sessions, want 1", n)
			}
			wantAudit(e, "signin.refused", "flow_replayed")
		})
	}
}
