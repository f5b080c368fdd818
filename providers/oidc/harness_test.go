package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/providers/safehttp"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const callbackURL = "https://gatehouse.test/callback/op-a"

// fakeClock is a fixed clock tests advance by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	iss   *providertest.OIDCIssuer
	p     *Provider
	clock *fakeClock
}

type envOpt func(*providertest.OIDCOptions, *Config)

func newEnv(t testing.TB, keys []*providertest.SigningKey, opts ...envOpt) *env {
	t.Helper()
	clock := &fakeClock{t: t0}
	io := providertest.OIDCOptions{ClientID: "gatehouse", ClientSecret: "s3cret", Now: clock.Now,
		Claims: map[string]any{"sub": "alice", "email": "alice@corp.example", "email_verified": true, "name": "Alice"}}
	cfg := Config{ID: "op-a", ClientID: "gatehouse", ClientSecret: "s3cret", Networks: safehttp.LoopbackNetworks(), Now: clock.Now,
		HTTPClient: safehttp.NewClient(safehttp.Options{AllowLoopback: true, Timeout: 5 * time.Second})}
	for _, o := range opts {
		o(&io, &cfg)
	}
	iss := providertest.NewOIDCIssuer(io, keys...)
	t.Cleanup(iss.Close)
	cfg.Issuer = iss.URL()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{iss: iss, p: p, clock: clock}
}

// authorize runs Begin and follows the redirect to the issuer's /authorize,
// returning the callback request the browser would make, and the pending state.
func (e *env) authorize(t testing.TB) (*http.Request, []byte) {
	t.Helper()
	start, err := e.p.Begin(context.Background(), providers.BeginParams{CallbackURL: callbackURL, LoginHint: "alice@corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	if start.RedirectURL == "" || start.Form != nil {
		t.Fatalf("Begin = %+v", start)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(start.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		t.Fatalf("authorize: %d %q", resp.StatusCode, loc)
	}
	return httptest.NewRequest(http.MethodGet, loc, nil), start.Pending
}

// login is a full round trip.
func (e *env) login(t testing.TB) (providers.Identity, error) {
	t.Helper()
	r, pending := e.authorize(t)
	return e.p.Complete(context.Background(), r, pending)
}

// refused asserts a refusal wrapping want and that no Identity came back.
func refused(t *testing.T, id providers.Identity, err error, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted: %+v", id)
	}
	t.Logf("refused: %v", err)
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if id.Subject != "" || id.ProviderID != "" || id.Claims != nil {
		t.Fatalf("identity returned with error: %+v", id)
	}
}

// keys are generated once; they are never mutated.
var keys = sync.OnceValue(func() []*providertest.SigningKey {
	return []*providertest.SigningKey{providertest.NewRSAKey("k1"), providertest.NewRSAKey("k2"), providertest.NewECKey("e1")}
})
