package keys

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/go-jose/go-jose/v4"
)

// activeKeys returns the algorithm of each active key.
func activeKeys(st *fakeKeys) map[string]string {
	out := map[string]string{}
	for _, k := range st.records() {
		if k.State == store.KeyActive {
			out[k.Algorithm] = k.ID
		}
	}
	return out
}

// TestIDTokenKeys: beside the server's key there is an RS256 key (OIDC Discovery §3,
// Dynamic Client Registration §2 default), 2048 bits or more, published in the JWKS
// and rotated with it; each algorithm's rotation retires only its own key.
func TestIDTokenKeys(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []string{ES256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t)
			m := e.started(t, alg)
			if got := m.IDTokenAlgorithms(); !slices.Equal(got, []string{RS256, alg}) {
				t.Errorf("IDTokenAlgorithms = %v, want [RS256 %s]", got, alg)
			}
			first := activeKeys(e.store)
			if len(first) != 2 || first[alg] == "" || first[RS256] == "" || len(e.store.records()) != 2 {
				t.Fatalf("after first start: active %v of %d keys, want one %s and one RS256", first, len(e.store.records()), alg)
			}
			raw, _ := m.JWKS(ctx)
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			var set jose.JSONWebKeySet
			must(json.Unmarshal(raw, &set))
			if len(set.Keys) != 2 || len(set.Key(first[RS256])) != 1 || len(set.Key(first[alg])) != 1 {
				t.Fatalf("JWKS %s, want both active keys", raw)
			}
			if pub, ok := set.Key(first[RS256])[0].Key.(*rsa.PublicKey); !ok || pub.N.BitLen() < 2048 {
				t.Errorf("RS256 key %T is not an RSA key of 2048 bits or more", set.Key(first[RS256])[0].Key)
			}

			// Access tokens keep the server's algorithm; SignerFor picks the ID token's.
			if s, err := m.Signer(ctx); err != nil || s.Algorithm() != alg {
				t.Fatalf("Signer = %v, %v; want %s", s, err, alg)
			}
			for _, a := range []string{RS256, alg} {
				s, err := m.SignerFor(ctx, a)
				if err != nil || s.Algorithm() != a || s.KeyID() != first[a] {
					t.Fatalf("SignerFor(%s) = %v, %v", a, s, err)
				}
				tok, err := s.Sign(testClaims{Sub: "alice"}, "JWT")
				must(err)
				var c testClaims
				if err := m.Verify(ctx, tok, "JWT", &c); err != nil || c.Sub != "alice" {
					t.Errorf("Verify of a %s token: %v", a, err)
				}
			}
			other := ES256
			if alg == ES256 {
				other = EdDSA
			}
			if _, err := m.SignerFor(ctx, other); !errors.Is(err, ErrNoActiveKey) {
				t.Errorf("SignerFor(%s) without a key of it: %v, want ErrNoActiveKey", other, err)
			}

			// Rotate makes a next key of each algorithm; after PublishDelay each
			// replaces the active key of its own algorithm only.
			next, err := m.Rotate(ctx)
			must(err)
			if len(next) != 2 || next[0].Algorithm != alg || next[1].Algorithm != RS256 {
				t.Fatalf("Rotate = %+v, want a %s and an RS256 key", next, alg)
			}
			e.clock.Advance(testPublishDelay)
			must(m.Maintain(ctx))
			after := activeKeys(e.store)
			if after[alg] != next[0].ID || after[RS256] != next[1].ID {
				t.Fatalf("active after promotion %v, want the rotated keys", after)
			}
			for _, a := range []string{alg, RS256} {
				if st := stateOf(t, e.store, first[a]); st != store.KeyRetired {
					t.Errorf("first %s key is %s, want retired", a, st)
				}
			}
		})
	}
	t.Run("RS256 server", func(t *testing.T) {
		e := newEnv(t)
		m := e.started(t, RS256)
		if got := m.IDTokenAlgorithms(); !slices.Equal(got, []string{RS256}) || len(e.store.records()) != 1 {
			t.Errorf("RS256 server: IDTokenAlgorithms %v and %d keys, want [RS256] and one key", got, len(e.store.records()))
		}
	})
}

// An upgrade from a version that kept only the server's key: the RS256 key is
// created and signs at once (clients default to it), the server's key stays.
func TestIDTokenKeyAddedOnUpgrade(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	rec, err := generate(e.kr, ES256, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Insert(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Promote(ctx, rec.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	m := e.started(t, ES256)
	active := activeKeys(e.store)
	if active[ES256] != rec.ID || active[RS256] == "" {
		t.Fatalf("active keys %v, want the old ES256 key and a new RS256 one", active)
	}
	if s, err := m.SignerFor(ctx, RS256); err != nil || s.KeyID() != active[RS256] {
		t.Fatalf("SignerFor(RS256) = %v, %v", s, err)
	}
}

// Changing GATEHOUSE_SIGNING_ALG: the previous algorithm's key signs access tokens
// until a key of the new one has been published for PublishDelay, and is then
// retired (still published for its tokens), never left active.
func TestSigningAlgorithmChange(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.started(t, ES256)
	old := activeKeys(e.store)[ES256]

	m := e.started(t, EdDSA)
	if s, err := m.Signer(ctx); err != nil || s.KeyID() != old {
		t.Fatalf("right after the change Signer = %v, %v; want the ES256 key until the EdDSA one is published long enough", s, err)
	}
	recs := e.store.records()
	i := slices.IndexFunc(recs, func(k store.SigningKey) bool { return k.Algorithm == EdDSA })
	if i < 0 || recs[i].State != store.KeyNext {
		t.Fatalf("keys %+v, want an EdDSA key in state next", recs)
	}
	e.clock.Advance(testPublishDelay)
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := m.Signer(ctx); err != nil || s.Algorithm() != EdDSA {
		t.Fatalf("after PublishDelay Signer = %v, %v; want EdDSA", s, err)
	}
	if st := stateOf(t, e.store, old); st != store.KeyRetired {
		t.Errorf("the ES256 key is %s, want retired", st)
	}
	e.clock.Advance(testMaxLifetime + testRefresh + time.Second)
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if st := stateOf(t, e.store, old); st != "(deleted)" {
		t.Errorf("the ES256 key is %s after its tokens expired, want deleted", st)
	}
}
