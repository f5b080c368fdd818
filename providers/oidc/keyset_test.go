package oidc

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

func TestOIDC11_KID(t *testing.T) {
	t.Run("kid absent, single key: accepted", func(t *testing.T) {
		e := newEnv(t, keys()[:1])
		e.iss.Set(func(k *providertest.Knobs) { k.OmitKID = true })
		if _, err := e.login(t); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("kid absent, several keys: refused", func(t *testing.T) {
		e := newEnv(t, keys()[:2])
		e.iss.Set(func(k *providertest.Knobs) { k.OmitKID = true })
		id, err := e.login(t)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
	t.Run("unknown kid: at most one refetch", func(t *testing.T) {
		e := newEnv(t, keys()[:1])
		if _, err := e.login(t); err != nil {
			t.Fatal(err)
		}
		before := e.iss.JWKSHits.Load()
		e.clock.Advance(DefaultJWKSCooldown + time.Second)
		e.iss.Set(func(k *providertest.Knobs) { k.Header = map[string]any{"kid": "nope"}; k.OmitKID = true })
		id, err := e.login(t)
		refused(t, id, err, providers.ErrInvalidResponse)
		if got := e.iss.JWKSHits.Load() - before; got > 1 {
			t.Fatalf("%d JWKS fetches for one unknown kid", got)
		}
	})
}

func TestOIDC12_KeyRotation(t *testing.T) {
	old, next := keys()[0], keys()[1]
	e := newEnv(t, []*providertest.SigningKey{old})
	if _, err := e.login(t); err != nil {
		t.Fatal(err)
	}
	// The OP rotates: only the new key is published and signs.
	e.iss.SetKeys(next)
	e.clock.Advance(DefaultJWKSCooldown + time.Second)
	if _, err := e.login(t); err != nil {
		t.Fatalf("login after rotation: %v", err)
	}
	// A token signed with the removed key no longer verifies.
	e.iss.Set(func(k *providertest.Knobs) { k.Key = old })
	id, err := e.login(t)
	refused(t, id, err, providers.ErrInvalidResponse)
}

func TestOIDC12_RemovedKeyExpiresFromCache(t *testing.T) {
	old, next := keys()[0], keys()[1]
	e := newEnv(t, []*providertest.SigningKey{old, next})
	if _, err := e.login(t); err != nil {
		t.Fatal(err)
	}
	e.iss.SetKeys(next)
	e.iss.Set(func(k *providertest.Knobs) { k.Key = old })
	e.clock.Advance(DefaultJWKSMaxAge + time.Second)
	id, err := e.login(t)
	refused(t, id, err, providers.ErrInvalidResponse)
}

// randomKidTokens mints n tokens signed by a published key but naming
// random kids, as a stampede attacker would.
func randomKidTokens(iss *providertest.OIDCIssuer, n int) []string {
	out := make([]string, n)
	for i := range out {
		c := iss.Claims("")
		out[i] = providertest.SignJWT(iss.Keys()[0], false, map[string]any{"kid": fmt.Sprintf("r%d", i)}, c)
	}
	return out
}

func TestDOS10_JWKSStampede(t *testing.T) {
	e := newEnv(t, keys()[:1])
	if _, err := e.login(t); err != nil { // warms the cache
		t.Fatal(err)
	}
	before := e.iss.JWKSHits.Load()
	for _, tok := range randomKidTokens(e.iss, 50) {
		if _, err := e.p.VerifyToken(context.Background(), providers.TokenParams{Token: tok, Audiences: []string{"gatehouse"}}); err == nil {
			t.Fatal("token with unknown kid accepted")
		}
	}
	if got := e.iss.JWKSHits.Load() - before; got > 1 {
		t.Fatalf("%d JWKS fetches for 50 unknown kids, want ≤ 1", got)
	}
	// After the cooldown one more fetch is allowed, not fifty.
	e.clock.Advance(DefaultJWKSCooldown + time.Second)
	for _, tok := range randomKidTokens(e.iss, 50) {
		_, _ = e.p.VerifyToken(context.Background(), providers.TokenParams{Token: tok, Audiences: []string{"gatehouse"}})
	}
	if got := e.iss.JWKSHits.Load() - before; got > 2 {
		t.Fatalf("%d JWKS fetches after one cooldown, want ≤ 2", got)
	}
}

// TestDOS10_RemoteKeySetRefetchesPerUnknownKid documents why keySet exists:
// go-oidc's RemoteKeySet coalesces only concurrent fetches, so sequential
// tokens with unknown kids each cost an upstream JWKS request. (A call that comes
// while the previous call's fetch is still being torn down joins it, so the calls
// are spaced a little, and the test asks for most of the ten, not all.)
func TestDOS10_RemoteKeySetRefetchesPerUnknownKid(t *testing.T) {
	e := newEnv(t, keys()[:1])
	ctx := gooidc.ClientContext(context.Background(), http.DefaultClient)
	u, _ := url.Parse(e.iss.URL())
	ks := gooidc.NewRemoteKeySet(ctx, u.JoinPath("jwks").String())
	v := gooidc.NewVerifier(e.iss.URL(), ks, &gooidc.Config{ClientID: "gatehouse", Now: e.clock.Now})
	for _, tok := range randomKidTokens(e.iss, 10) {
		_, _ = v.Verify(ctx, tok)
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.iss.JWKSHits.Load(); got < 5 {
		t.Fatalf("RemoteKeySet made %d fetches for 10 unknown kids; if go-oidc now rate-limits, keySet may be dropped", got)
	}
}
