package keys

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
)

// TestASJWT10_RevokeRemovesKeyAtOnce: unlike rotation, which keeps a retired key
// published until its tokens expire, a revoked (compromised) key leaves the store,
// the JWKS and verification at once; if it was signing, a new key of its algorithm
// signs from now on, without publish delay. (Refusal on other replicas before their
// refresh is the revocation list's job: broker TestASJWT04_RevokedKey….)
func TestASJWT10_RevokeRemovesKeyAtOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.started(t, ES256), e.started(t, ES256)
	compromised := activeKeys(e.store)[ES256]
	rsaKID := activeKeys(e.store)[RS256]
	before := sign(t, a, 1)

	res, err := a.Revoke(ctx, compromised)
	if err != nil {
		t.Fatal(err)
	}
	if res.Key.ID != compromised || res.Key.State != store.KeyActive || res.Key.PrivateEnc != nil {
		t.Errorf("Revoke returned key %+v", res.Key)
	}
	r := res.Replacement
	if r == nil || r.Algorithm != ES256 || r.State != store.KeyActive || r.PrivateEnc != nil {
		t.Fatalf("replacement %+v, want an active ES256 key", r)
	}
	if st := stateOf(t, e.store, compromised); st != "(deleted)" {
		t.Errorf("revoked key is %s in the store, want deleted", st)
	}
	if kids, _ := a.KeyIDs(ctx); slices.Contains(kids, compromised) || !slices.Contains(kids, r.ID) || !slices.Contains(kids, rsaKID) {
		t.Errorf("published kids %v: want the replacement and the RS256 key, not the revoked key", kids)
	}
	if kids := publishedKIDs(t, a); !slices.Equal(kids, []string{r.ID}) {
		t.Errorf("JWKS %v, want only the replacement %s", kids, r.ID)
	}
	if _, err := verify(a, before); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("a token of the revoked key: %v, want ErrInvalidToken", err)
	}
	after := sign(t, a, 2) // no publish delay for the replacement
	if kid := header(t, after).KeyID; kid != r.ID {
		t.Errorf("signed with %s after the revocation, want the replacement %s", kid, r.ID)
	}
	// Replica b has not refreshed, yet knows the replacement at its first token.
	if _, err := verify(b, after); err != nil {
		t.Errorf("replica b refuses a token of the replacement key: %v", err)
	}
	if kids := publishedKIDs(t, b); slices.Contains(kids, compromised) {
		t.Errorf("replica b still publishes the revoked key after reloading: %v", kids)
	}

	// A key that was not signing is removed without a replacement.
	res, err = a.Revoke(ctx, rsaKID)
	if err == nil && res.Replacement == nil {
		t.Error("revoking the active RS256 key made no replacement")
	}
	next, err := rotate(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := a.Revoke(ctx, next.ID); err != nil || res.Replacement != nil {
		t.Errorf("Revoke(next key) = %+v, %v; want no replacement", res, err)
	}
	if _, err := a.Revoke(ctx, "no-such-kid"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Revoke(unknown kid) = %v, want ErrNotFound", err)
	}
	if n := len(activeKeys(e.store)); n != 2 {
		t.Errorf("%d active keys after the revocations, want 2 (ES256 and RS256)", n)
	}
}
