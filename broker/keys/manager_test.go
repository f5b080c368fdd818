package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/go-jose/go-jose/v4"
)

const (
	testPublishDelay = time.Hour
	testMaxLifetime  = 2 * time.Hour
	testRefresh      = 30 * time.Second
)

var algorithms = []string{ES256, RS256, EdDSA}

func masterKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, seal.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func keyring(t testing.TB, keys ...[]byte) *seal.Keyring {
	t.Helper()
	kr, err := seal.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

type env struct {
	store *fakeKeys
	clock *clock
	kr    *seal.Keyring
}

func newEnv(t testing.TB) *env {
	return &env{store: &fakeKeys{}, clock: newClock(), kr: keyring(t, masterKey(t))}
}

func (e *env) manager(t testing.TB, alg string) *Manager {
	t.Helper()
	m, err := NewManager(e.store, e.kr, Options{
		Algorithm:        alg,
		Now:              e.clock.Now,
		PublishDelay:     testPublishDelay,
		MaxTokenLifetime: testMaxLifetime,
		RefreshInterval:  testRefresh,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) started(t testing.TB, alg string) *Manager {
	t.Helper()
	m := e.manager(t, alg)
	if err := m.EnsureKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

type testClaims struct {
	Sub string `json:"sub"`
	N   int    `json:"n"`
}

func sign(t testing.TB, m *Manager, n int) string {
	t.Helper()
	tok, err := m.Sign(context.Background(), testClaims{Sub: "alice", N: n}, "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func verify(m *Manager, tok string) (testClaims, error) {
	var c testClaims
	err := m.Verify(context.Background(), tok, "at+jwt", &c)
	return c, err
}

func header(t testing.TB, tok string) jose.Header {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, allowedAlgs)
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Protected
}

// publishedKIDs returns the kids of the JWKS keys of the server's algorithm in order, checking its hygiene
// (public members only, alg and use set, no duplicate kid) on the way.
func publishedKIDs(t testing.TB, m *Manager) []string {
	t.Helper()
	raw, err := m.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var generic struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range generic.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS key has private member %q", private)
			}
		}
		if k["use"] != "sig" || k["alg"] == nil || k["kid"] == nil {
			t.Fatalf("JWKS key lacks use/alg/kid: %v", k)
		}
		if k["alg"] != m.opts.Algorithm {
			continue // the RS256 ID-token keys beside the server's (TestIDTokenKeys)
		}
		kid := k["kid"].(string)
		if slices.Contains(kids, kid) {
			t.Fatalf("duplicate kid %q in JWKS", kid)
		}
		kids = append(kids, kid)
	}
	return kids
}

func stateOf(t testing.TB, st *fakeKeys, kid string) string {
	t.Helper()
	for _, k := range st.records() {
		if k.ID == kid {
			return k.State
		}
	}
	return "(deleted)"
}

func TestNewManagerOptions(t *testing.T) {
	st, kr := &fakeKeys{}, keyring(t, masterKey(t))
	m, err := NewManager(st, kr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.opts.Algorithm != ES256 || m.opts.PublishDelay != DefaultPublishDelay ||
		m.opts.MaxTokenLifetime != DefaultMaxTokenLifetime || m.opts.RefreshInterval != DefaultRefreshInterval {
		t.Errorf("defaults not applied: %+v", m.opts)
	}
	bad := []struct {
		name string
		opts Options
		want string
	}{
		{"unknown algorithm", Options{Algorithm: "HS256"}, `algorithm "HS256"`},
		{"negative duration", Options{MaxTokenLifetime: -time.Second}, "negative"},
		{"publish delay too short", Options{PublishDelay: time.Minute, RefreshInterval: time.Minute}, "must exceed the refresh interval"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewManager(st, kr, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewManager error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := NewManager(nil, kr, Options{}); err == nil {
		t.Error("NewManager accepted a nil store")
	}
}

func TestFirstStartEveryAlgorithm(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t)
			m := e.started(t, alg)
			recs := e.store.serverKeys()
			if len(recs) != 1 || recs[0].State != store.KeyActive || recs[0].Algorithm != alg {
				t.Fatalf("after first start: %+v", recs)
			}
			rec := recs[0]
			if bytes.Contains(rec.PrivateEnc, []byte("PRIVATE KEY")) || len(rec.PrivateEnc) < 40 {
				t.Error("private key not sealed")
			}
			if _, err := e.kr.Open(rec.PrivateEnc, []byte(rec.ID)); err != nil {
				t.Errorf("private key does not open with its kid as associated data: %v", err)
			}
			if _, err := e.kr.Open(rec.PrivateEnc, []byte("another-kid")); err == nil {
				t.Error("private key opens under another kid")
			}

			// A second start (or a second call) creates nothing.
			if err := m.EnsureKey(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(e.store.serverKeys()); n != 1 {
				t.Fatalf("second EnsureKey: %d keys", n)
			}

			if kids := publishedKIDs(t, m); !slices.Equal(kids, []string{rec.ID}) {
				t.Errorf("JWKS kids %v, want [%s]", kids, rec.ID)
			}
			tok := sign(t, m, 1)
			h := header(t, tok)
			if h.KeyID != rec.ID || h.Algorithm != alg || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
				t.Errorf("header %+v", h)
			}
			c, err := verify(m, tok)
			if err != nil || c != (testClaims{Sub: "alice", N: 1}) {
				t.Fatalf("Verify = %+v, %v", c, err)
			}
			s, err := m.Signer(context.Background())
			if err != nil || s.Algorithm() != alg || s.KeyID() != rec.ID {
				t.Fatalf("Signer = %v, %v", s, err)
			}
			// A relying party verifies with the published JWKS alone.
			raw, _ := m.JWKS(context.Background())
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(raw, &set); err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jws.Verify(&set); err != nil {
				t.Errorf("token does not verify against the published JWKS: %v", err)
			}
		})
	}
}

// TestASJWT10_RotationLifecycle: during the overlap JWKS has both keys and tokens of
// the old key verify; once the old key is gone from JWKS its tokens are refused.
func TestASJWT10_RotationLifecycle(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			m := e.started(t, alg)
			oldKID := e.store.serverKeys()[0].ID
			before := sign(t, m, 1)

			next, err := rotate(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			if next.State != store.KeyNext || next.ID == oldKID || next.PrivateEnc != nil {
				t.Fatalf("Rotate returned %+v", next)
			}
			if kids := publishedKIDs(t, m); !slices.Equal(kids, []string{oldKID, next.ID}) {
				t.Errorf("after Rotate JWKS %v, want [active %s, next %s]", kids, oldKID, next.ID)
			}
			if kid := header(t, sign(t, m, 2)).KeyID; kid != oldKID {
				t.Errorf("signed with %s before promotion, want the active %s", kid, oldKID)
			}

			// Not yet: published for less than PublishDelay.
			e.clock.Advance(testPublishDelay - time.Second)
			if err := m.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
			if st := stateOf(t, e.store, next.ID); st != store.KeyNext {
				t.Fatalf("promoted early: %s", st)
			}

			e.clock.Advance(time.Second)
			if err := m.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
			if a, r := stateOf(t, e.store, next.ID), stateOf(t, e.store, oldKID); a != store.KeyActive || r != store.KeyRetired {
				t.Fatalf("after PublishDelay: next is %s, old is %s", a, r)
			}
			after := sign(t, m, 3)
			if kid := header(t, after).KeyID; kid != next.ID {
				t.Errorf("signed with %s after promotion, want %s", kid, next.ID)
			}
			if kids := publishedKIDs(t, m); !slices.Equal(kids, []string{next.ID, oldKID}) {
				t.Errorf("after promotion JWKS %v, want [%s %s]", kids, next.ID, oldKID)
			}
			for _, tok := range []string{before, after} {
				if _, err := verify(m, tok); err != nil {
					t.Errorf("Verify after promotion: %v", err)
				}
			}

			// The retired key stays published for MaxTokenLifetime (+ one refresh
			// interval of grace) after retirement, then disappears.
			e.clock.Advance(testMaxLifetime)
			if err := m.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := verify(m, before); err != nil {
				t.Errorf("token of the retired key refused within its lifetime: %v", err)
			}
			e.clock.Advance(testRefresh + time.Second)
			if err := m.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
			if st := stateOf(t, e.store, oldKID); st != "(deleted)" {
				t.Errorf("retired key still stored (%s) after MaxTokenLifetime", st)
			}
			if kids := publishedKIDs(t, m); !slices.Equal(kids, []string{next.ID}) {
				t.Errorf("JWKS %v, want only %s", kids, next.ID)
			}
			if _, err := verify(m, before); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("token of a deleted key: %v, want ErrInvalidToken", err)
			}
			if _, err := verify(m, after); err != nil {
				t.Errorf("Verify with the active key: %v", err)
			}
		})
	}
}

func TestTwoRotationsPromoteInOrder(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	m := e.started(t, ES256)
	first := e.store.serverKeys()[0].ID
	n1, _ := rotate(ctx, m)
	e.clock.Advance(time.Minute)
	n2, _ := rotate(ctx, m)
	e.clock.Advance(testPublishDelay)
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	got := []string{stateOf(t, e.store, first), stateOf(t, e.store, n1.ID), stateOf(t, e.store, n2.ID)}
	if !slices.Equal(got, []string{store.KeyRetired, store.KeyRetired, store.KeyActive}) {
		t.Fatalf("states %v, want retired, retired, active (no next key left behind)", got)
	}
}

func TestTwoReplicasSeeEachOthersRotation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.started(t, ES256), e.started(t, ES256)
	if n := len(e.store.serverKeys()); n != 1 {
		t.Fatalf("two sequential starts made %d keys", n)
	}
	oldKID := e.store.serverKeys()[0].ID

	next, err := rotate(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if kids := publishedKIDs(t, b); slices.Contains(kids, next.ID) {
		t.Fatal("replica b saw the new key before its refresh interval")
	}
	e.clock.Advance(testRefresh)
	if kids := publishedKIDs(t, b); !slices.Contains(kids, next.ID) {
		t.Fatalf("replica b does not publish the new key after RefreshInterval: %v", kids)
	}

	e.clock.Advance(testPublishDelay)
	publishedKIDs(t, b) // b's periodic refresh, just before a promotes
	if err := a.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	byA := sign(t, a, 1)
	if header(t, byA).KeyID != next.ID {
		t.Fatal("a does not sign with the promoted key")
	}
	// b has not refreshed yet: it still signs with the old, now retired key, which
	// stays published; and it already knows the new key, so it verifies a's token.
	byB := sign(t, b, 2)
	if header(t, byB).KeyID != oldKID {
		t.Fatal("b changed keys before its refresh")
	}
	if _, err := verify(b, byA); err != nil {
		t.Errorf("b refuses a's token: %v", err)
	}
	if _, err := verify(a, byB); err != nil {
		t.Errorf("a refuses b's token: %v", err)
	}
	e.clock.Advance(testRefresh)
	if header(t, sign(t, b, 3)).KeyID != next.ID {
		t.Error("b does not sign with the promoted key after RefreshInterval")
	}
}

// Two replicas start on an empty database at the same moment: both see no key and
// both create one. Promote's transaction must still leave exactly one active key,
// and each replica's tokens must verify on the other.
func TestConcurrentFirstStart(t *testing.T) {
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			e := newEnv(t)
			var arrived sync.WaitGroup
			arrived.Add(2)
			e.store.onInsert = func(k store.SigningKey) { // both List before either Insert
				if k.Algorithm == ES256 {
					arrived.Done()
					arrived.Wait()
				}
			}
			a, b := e.manager(t, ES256), e.manager(t, ES256)
			errs := make(chan error, 2)
			for _, m := range []*Manager{a, b} {
				go func() { errs <- m.EnsureKey(context.Background()) }()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			recs := e.store.serverKeys()
			if len(recs) != 2 {
				t.Fatalf("%d keys, want 2", len(recs))
			}
			if n := len(slices.DeleteFunc(recs, func(k store.SigningKey) bool { return k.State != store.KeyActive })); n != 1 {
				t.Fatalf("%d active keys, want 1", n)
			}
			// Both replicas know both keys at once: each verifies the other's tokens.
			ta, tb := sign(t, a, 1), sign(t, b, 2)
			for _, m := range []*Manager{a, b} {
				for _, tok := range []string{ta, tb} {
					if _, err := verify(m, tok); err != nil {
						t.Errorf("Verify: %v", err)
					}
				}
			}
		})
	}
}

func TestWrongMasterKeyFailsClosed(t *testing.T) {
	e := newEnv(t)
	e.started(t, ES256)
	wrongKey := masterKey(t)
	wrong := &env{store: e.store, clock: e.clock, kr: keyring(t, wrongKey)}
	m := wrong.manager(t, ES256)

	err := m.EnsureKey(context.Background())
	if !errors.Is(err, ErrKeyMaterial) || !errors.Is(err, seal.ErrUnknownKey) {
		t.Fatalf("EnsureKey with a wrong master key: %v; want ErrKeyMaterial wrapping seal.ErrUnknownKey", err)
	}
	if !strings.Contains(err.Error(), "wrong GATEHOUSE_MASTER_KEY") {
		t.Errorf("error does not say what to check: %v", err)
	}
	for _, secret := range []string{string(wrongKey), base64.StdEncoding.EncodeToString(wrongKey), fmt.Sprintf("%x", wrongKey)} {
		if strings.Contains(err.Error(), secret) {
			t.Error("error reveals the master key")
		}
	}
	if n := len(e.store.serverKeys()); n != 1 {
		t.Errorf("EnsureKey wrote %d keys; a wrong master key must write nothing", n-1)
	}
	if _, err := m.Sign(context.Background(), testClaims{}, "at+jwt"); err == nil {
		t.Error("Sign worked with a wrong master key")
	}
	if _, err := m.JWKS(context.Background()); err == nil {
		t.Error("JWKS served with a wrong master key")
	}
}

func TestTamperedKeyRecordsFailClosed(t *testing.T) {
	foreign := newEnv(t)
	foreign.started(t, ES256)
	foreignRec := foreign.store.serverKeys()[0]

	tests := []struct {
		name  string
		edit  func(k *store.SigningKey, other store.SigningKey)
		wants error
	}{
		{"sealed key copied from another row", func(k *store.SigningKey, o store.SigningKey) { k.PrivateEnc = o.PrivateEnc }, seal.ErrDecrypt},
		{"flipped bit in sealed key", func(k *store.SigningKey, _ store.SigningKey) { k.PrivateEnc[len(k.PrivateEnc)-1] ^= 1 }, seal.ErrDecrypt},
		{"public JWK swapped for a foreign key", func(k *store.SigningKey, _ store.SigningKey) { k.PublicJWK = foreignRec.PublicJWK }, ErrKeyMaterial},
		{"algorithm changed", func(k *store.SigningKey, _ store.SigningKey) { k.Algorithm = RS256 }, ErrKeyMaterial},
		{"unknown state", func(k *store.SigningKey, _ store.SigningKey) { k.State = "compromised" }, ErrKeyMaterial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			m := e.started(t, ES256)
			next, _ := rotate(ctx, m)
			recs := e.store.serverKeys()
			victim, other := recs[0], recs[1]
			if victim.ID == next.ID {
				victim, other = other, victim
			}
			if err := e.store.update(victim.ID, func(k *store.SigningKey) { tt.edit(k, other) }); err != nil {
				t.Fatal(err)
			}
			fresh := e.manager(t, ES256)
			if err := fresh.EnsureKey(ctx); !errors.Is(err, tt.wants) {
				t.Fatalf("EnsureKey: %v, want %v", err, tt.wants)
			}
			// A running replica keeps its previous, good keys.
			if err := m.Refresh(ctx); !errors.Is(err, tt.wants) {
				t.Fatalf("Refresh: %v, want %v", err, tt.wants)
			}
			if _, err := verify(m, sign(t, m, 1)); err != nil {
				t.Errorf("running replica lost its keys: %v", err)
			}
		})
	}
}

func TestReadsAreServedFromCache(t *testing.T) {
	e := newEnv(t)
	m := e.started(t, ES256)
	lists := e.store.listCalls()
	for i := range 200 {
		tok := sign(t, m, i)
		if _, err := verify(m, tok); err != nil {
			t.Fatal(err)
		}
		publishedKIDs(t, m)
		e.clock.Advance(testRefresh / 1000)
	}
	if n := e.store.listCalls() - lists; n != 0 {
		t.Errorf("%d store reads within one refresh interval, want 0", n)
	}
	e.clock.Advance(testRefresh)
	sign(t, m, 0)
	sign(t, m, 0)
	if n := e.store.listCalls() - lists; n != 1 {
		t.Errorf("%d store reads after the interval, want 1", n)
	}
}

func TestRefreshFailureKeepsServing(t *testing.T) {
	e := newEnv(t)
	m := e.started(t, ES256)
	e.store.setFailList(errors.New("database is down"))
	e.clock.Advance(testRefresh)
	lists := e.store.listCalls()
	for i := range 10 {
		if _, err := verify(m, sign(t, m, i)); err != nil {
			t.Fatalf("signing stopped while the database is down: %v", err)
		}
	}
	if n := e.store.listCalls() - lists; n != 1 {
		t.Errorf("%d reload attempts, want 1 per refresh interval", n)
	}
	e.store.setFailList(nil)
	next, err := rotate(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(publishedKIDs(t, m), next.ID) {
		t.Error("cache not reloaded after the database came back")
	}
}

func TestMasterKeyRotationReseal(t *testing.T) {
	ctx := context.Background()
	oldKey, newKey := masterKey(t), masterKey(t)
	e := &env{store: &fakeKeys{}, clock: newClock(), kr: keyring(t, oldKey)}
	m := e.started(t, EdDSA)
	if _, err := rotate(ctx, m); err != nil {
		t.Fatal(err)
	}
	tok := sign(t, m, 1)

	during := &env{store: e.store, clock: e.clock, kr: keyring(t, newKey, oldKey)}
	md := during.started(t, EdDSA)
	n, err := md.Reseal(ctx)
	if err != nil || n != 4 {
		t.Fatalf("Reseal = %d, %v; want 4 keys (EdDSA and RS256, active and next)", n, err)
	}
	if n, err := md.Reseal(ctx); err != nil || n != 0 {
		t.Fatalf("second Reseal = %d, %v; want 0 (idempotent)", n, err)
	}

	after := &env{store: e.store, clock: e.clock, kr: keyring(t, newKey)}
	ma := after.started(t, EdDSA)
	if _, err := verify(ma, tok); err != nil {
		t.Errorf("token from before the master-key rotation: %v", err)
	}
	if n := len(e.store.serverKeys()); n != 2 {
		t.Errorf("%d keys after master-key rotation, want 2", n)
	}
}

// Signing, verifying and serving the JWKS while keys rotate: run with -race.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	m, err := NewManager(e.store, e.kr, Options{
		Now:          e.clock.Now,
		PublishDelay: testPublishDelay,
		// Long enough that no key is deleted while a goroutine holds a token it signed.
		MaxTokenLifetime: 100 * testPublishDelay,
		RefreshInterval:  testRefresh,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureKey(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := m.Sign(ctx, testClaims{N: i}, "at+jwt")
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := verify(m, tok); err != nil {
					t.Error(err)
					return
				}
				if _, err := m.JWKS(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 5 {
		if _, err := rotate(ctx, m); err != nil {
			t.Error(err)
		}
		e.clock.Advance(testPublishDelay)
		if err := m.Maintain(ctx); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}
