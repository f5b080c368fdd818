// Package keys manages Gatehouse's token-signing keys: it creates and rotates them in
// the database with their private parts sealed by the master key, publishes them as a
// JWKS, and signs and verifies Gatehouse's own JWTs from an in-memory cache.
//
// A key's life: Rotate creates it in state "next", published in the JWKS but not
// signing; once it has been published for PublishDelay (so that relying parties'
// JWKS caches know it), Maintain promotes it to "active" and retires the previous
// active key of its algorithm; a retired key stays published for MaxTokenLifetime
// (plus one RefreshInterval) so that the tokens it signed can still be verified, and
// is then deleted (OIDC Core §10.1.1). Revoke removes a compromised key at once.
//
// There is one active key per algorithm: the server's (Options.Algorithm), which
// signs access tokens, and an RS256 key, because RS256 is the ID-token algorithm
// every relying party supports and the default of those that register none (OIDC
// Discovery §3, Dynamic Client Registration §2). ID tokens are signed with the
// client's registered algorithm (SignerFor).
//
// Master-key rotation: configure the keyring as [old, new] on every replica (new keys
// open, old still seals), then [new, old] (new seals), run Reseal once, then drop old.
package keys

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/go-jose/go-jose/v4"
)

// Options configures a Manager. Zero fields take the defaults documented on each.
type Options struct {
	// Algorithm of the key that signs access tokens: ES256 (default), RS256
	// (2048-bit) or EdDSA (Ed25519). An RS256 key for ID tokens is kept beside it.
	// After a change, the previous algorithm's key goes on signing until a key of
	// the new one has been published for PublishDelay, and is then retired.
	Algorithm string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// PublishDelay is how long a "next" key is published before it may sign. It must
	// exceed RefreshInterval plus the longest JWKS cache lifetime of relying parties;
	// default 1h.
	PublishDelay time.Duration
	// MaxTokenLifetime is the longest lifetime of any token the keys sign; a retired
	// key stays published this long after retirement. Default 24h.
	MaxTokenLifetime time.Duration
	// RefreshInterval is how often the in-memory cache rereads the database, so that a
	// rotation by another replica is seen here; default 30s.
	RefreshInterval time.Duration
	// Logger receives cache-refresh failures that a read survives by serving the
	// previous keys; default slog.Default().
	Logger *slog.Logger
}

// Defaults for Options.
const (
	DefaultPublishDelay     = time.Hour
	DefaultMaxTokenLifetime = 24 * time.Hour
	DefaultRefreshInterval  = 30 * time.Second
)

var (
	// ErrNoActiveKey: there is no active signing key (EnsureKey has not run).
	ErrNoActiveKey = errors.New("keys: no active signing key")
	// ErrInvalidToken: Verify refused the token. The wrapped text says why, for logs;
	// it is not meant for clients.
	ErrInvalidToken = errors.New("keys: invalid token")
)

// Manager owns the signing keys. It is safe for concurrent use; reads (JWKS, Sign,
// Verify) work on an immutable snapshot loaded with one atomic pointer read.
type Manager struct {
	store   store.SigningKeys
	keyring *seal.Keyring
	opts    Options
	// algs are the algorithms with an active key: Options.Algorithm first, RS256.
	algs []string

	snap atomic.Pointer[snapshot]
	// reloadMu serialises database reloads; readers that find the cache stale while
	// a reload is running keep using the previous snapshot instead of waiting.
	reloadMu sync.Mutex
	// unknownKIDReload is when Verify last reloaded for a kid it did not know (Unix
	// nanoseconds), so that such reloads happen at most once per unknownKIDEvery.
	unknownKIDReload atomic.Int64
}

// unknownKIDEvery bounds the reloads that tokens with unknown kids cause: a key
// another replica created without publish delay (Revoke's replacement) verifies
// here within this time, and forged kids cost at most one List per interval.
const unknownKIDEvery = time.Second

// snapshot is an immutable view of the published keys.
type snapshot struct {
	byKID map[string]*loadedKey // next, active and retired keys
	// active signs access tokens: the active key of Options.Algorithm or, until one
	// of a newly configured algorithm is promoted, the latest active key.
	active      *loadedKey
	activeByAlg map[string]*loadedKey
	jwks        []byte
	refreshAt   time.Time // when a read should reload from the database
}

// NewManager checks opts and returns a Manager. It does not touch the database; call
// EnsureKey at startup.
func NewManager(keys store.SigningKeys, keyring *seal.Keyring, opts Options) (*Manager, error) {
	if keys == nil || keyring == nil {
		return nil, errors.New("keys: NewManager needs a store and a keyring")
	}
	if opts.Algorithm == "" {
		opts.Algorithm = ES256
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PublishDelay == 0 {
		opts.PublishDelay = DefaultPublishDelay
	}
	if opts.MaxTokenLifetime == 0 {
		opts.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var problems []error
	if !validAlgorithm(opts.Algorithm) {
		problems = append(problems, fmt.Errorf("algorithm %q is not one of ES256, RS256, EdDSA", opts.Algorithm))
	}
	if opts.PublishDelay < 0 || opts.MaxTokenLifetime < 0 || opts.RefreshInterval < 0 {
		problems = append(problems, errors.New("durations must not be negative"))
	}
	// Another replica learns of a new key only at its next refresh, and serves a JWKS
	// without it until then: the key must not sign before every replica publishes it.
	if opts.PublishDelay <= opts.RefreshInterval {
		problems = append(problems, fmt.Errorf("publish delay %s must exceed the refresh interval %s", opts.PublishDelay, opts.RefreshInterval))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	algs := []string{opts.Algorithm}
	if opts.Algorithm != RS256 {
		algs = append(algs, RS256)
	}
	return &Manager{store: keys, keyring: keyring, opts: opts, algs: algs}, nil
}

// IDTokenAlgorithms are the algorithms a Manager for serverAlg signs ID tokens
// with, RS256 first (OIDC Discovery §3: RS256 must be listed).
func IDTokenAlgorithms(serverAlg string) []string {
	if serverAlg == RS256 || serverAlg == "" {
		return []string{RS256}
	}
	return []string{RS256, serverAlg}
}

// IDTokenAlgorithms are the algorithms this Manager signs ID tokens with, RS256
// first.
func (m *Manager) IDTokenAlgorithms() []string { return IDTokenAlgorithms(m.opts.Algorithm) }

// EnsureKey makes sure an active key exists, creating one on first start, and loads
// the keys into the cache. It fails, creating nothing, when a stored key does not open
// with the keyring (ErrKeyMaterial): a wrong master key must stop the server rather
// than have it sign with a fresh key while the old ones vanish.
//
// Replicas starting at once on an empty database may each find no key and each create
// one. Each inserts its key as "next", lists again and promotes one next key, preferring
// another replica's (the oldest) to its own. Promote's transaction guarantees exactly one
// active key whatever the interleaving, and a key another replica did not choose stays
// published, as next or retired. With two replicas this also means both know every key
// when they start: the second to insert sees both keys and promotes the first one's,
// which the first one promotes too — or, if both saw both, each promotes the other's and
// both know both. With more replicas, one may learn of another's key only at its next
// refresh (within RefreshInterval), on a deployment that has signed nothing yet.
func (m *Manager) EnsureKey(ctx context.Context) error {
	recs, err := m.store.List(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	// Fail closed before writing anything.
	s, err := m.build(recs, m.snap.Load())
	if err != nil {
		return err
	}
	m.snap.Store(s)
	// The server's algorithm first: on an empty database its key must be the
	// first active one, or the RS256 key would stand in for it (see urgent).
	for _, alg := range m.algs {
		if err := m.ensureAlgorithm(ctx, alg); err != nil {
			return err
		}
	}
	if err := m.Refresh(ctx); err != nil {
		return err
	}
	s = m.snap.Load()
	if s.active == nil || s.activeByAlg[RS256] == nil {
		return ErrNoActiveKey
	}
	return nil
}

// ensureAlgorithm gives alg an active key unless it has one, as EnsureKey describes.
// Where another key may stand in for it (urgent), it only creates a next key, which
// Maintain promotes once published for PublishDelay.
func (m *Manager) ensureAlgorithm(ctx context.Context, alg string) error {
	recs, err := m.store.List(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	if findActive(recs, alg) != nil {
		return nil
	}
	var own string
	if findNext(recs, alg) == nil {
		rec, err := generate(m.keyring, alg, m.opts.Now())
		if err != nil {
			return fmt.Errorf("keys: %w", err)
		}
		if err := m.store.Insert(ctx, rec); err != nil {
			return fmt.Errorf("keys: insert first %s signing key: %w", alg, err)
		}
		own = rec.ID
		if recs, err = m.store.List(ctx); err != nil {
			return fmt.Errorf("keys: list signing keys: %w", err)
		}
	}
	// Nothing can sign with alg without an active key, so a waiting next key (ours,
	// another replica's, or one left by a crash) is promoted without waiting.
	if !m.urgent(recs, alg) {
		return nil
	}
	var pick *store.SigningKey
	for i, k := range recs {
		if k.State != store.KeyNext || k.Algorithm != alg || k.ID == own {
			continue
		}
		if pick == nil || compareAge(k, *pick) < 0 {
			pick = &recs[i]
		}
	}
	kid := own
	if pick != nil {
		kid = pick.ID
	}
	if err := m.store.Promote(ctx, kid, m.opts.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		// ErrNotFound: another replica promoted it first.
		return fmt.Errorf("keys: promote first %s signing key %q: %w", alg, kid, err)
	}
	return nil
}

// urgent reports whether a next key of alg must be promoted without waiting for
// PublishDelay: alg has no active key and no other key may sign in its place. Only
// the server's algorithm has a stand-in, the latest active key of any algorithm
// (after GATEHOUSE_SIGNING_ALG changed); ID tokens of a client registered for alg
// cannot be signed with another.
func (m *Manager) urgent(recs []store.SigningKey, alg string) bool {
	if findActive(recs, alg) != nil {
		return false
	}
	return alg != m.opts.Algorithm || findState(recs, store.KeyActive) == nil
}

// compareAge orders keys oldest first, by kid when created at the same instant.
func compareAge(a, b store.SigningKey) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
}

// Rotate creates one key in state "next" per algorithm (the server's, then RS256):
// published in the JWKS from now on, signing once Maintain promotes it after
// PublishDelay. The returned records have no PrivateEnc.
func (m *Manager) Rotate(ctx context.Context) ([]store.SigningKey, error) {
	var out []store.SigningKey
	for _, alg := range m.algs {
		rec, err := generate(m.keyring, alg, m.opts.Now())
		if err != nil {
			return out, fmt.Errorf("keys: %w", err)
		}
		if err := m.store.Insert(ctx, rec); err != nil {
			return out, fmt.Errorf("keys: insert next %s signing key: %w", alg, err)
		}
		rec.PrivateEnc = nil
		out = append(out, rec)
	}
	// Publish here at once; other replicas follow within RefreshInterval.
	return out, m.Refresh(ctx)
}

// Revoked is what Revoke did: the key it removed and, when that key was active,
// the key that signs in its place from now on.
type Revoked struct {
	Key         store.SigningKey  // without PrivateEnc
	Replacement *store.SigningKey // without PrivateEnc; nil if the key was not active
}

// Revoke removes a compromised key at once: unlike retirement it is not kept
// published for the tokens it signed (SECURITY.md AS-JWT-04, AS-JWT-10). If it was
// active, a new key of its algorithm is promoted first, without PublishDelay: a
// compromised key must not sign a moment longer, and relying parties fetch the JWKS
// again on an unknown kid. Other replicas drop the key at their next refresh; the
// caller makes its tokens refused everywhere at once (a revocation-list entry).
// ErrNotFound (wrapped) if there is no key kid.
func (m *Manager) Revoke(ctx context.Context, kid string) (Revoked, error) {
	recs, err := m.store.List(ctx)
	if err != nil {
		return Revoked{}, fmt.Errorf("keys: list signing keys: %w", err)
	}
	i := slices.IndexFunc(recs, func(k store.SigningKey) bool { return k.ID == kid })
	if i < 0 {
		return Revoked{}, fmt.Errorf("keys: revoke: no signing key %q: %w", kid, store.ErrNotFound)
	}
	out := Revoked{Key: recs[i]}
	out.Key.PrivateEnc = nil
	if recs[i].State == store.KeyActive {
		rec, err := generate(m.keyring, recs[i].Algorithm, m.opts.Now())
		if err != nil {
			return out, fmt.Errorf("keys: %w", err)
		}
		if err := m.store.Insert(ctx, rec); err != nil {
			return out, fmt.Errorf("keys: insert replacement signing key: %w", err)
		}
		// Promote retires the compromised key in the same transaction.
		if err := m.store.Promote(ctx, rec.ID, m.opts.Now()); err != nil {
			return out, fmt.Errorf("keys: promote replacement signing key %q: %w", rec.ID, err)
		}
		rec.PrivateEnc = nil
		rec.State = store.KeyActive
		out.Replacement = &rec
	}
	if err := m.store.Delete(ctx, kid); err != nil {
		return out, fmt.Errorf("keys: delete revoked signing key %q: %w", kid, err)
	}
	return out, m.Refresh(ctx)
}

// RevocationHorizon is how long after a revocation a token signed with the revoked
// key may still be unexpired: another replica may sign with it until its next
// refresh, and its tokens live MaxTokenLifetime.
func (m *Manager) RevocationHorizon() time.Duration {
	return m.opts.MaxTokenLifetime + m.opts.RefreshInterval
}

// Maintain promotes next keys published for at least PublishDelay, deletes retired
// keys whose tokens have all expired, and reloads the cache. The server calls it at
// start and periodically (every RefreshInterval or so); concurrent calls on several
// replicas are safe.
func (m *Manager) Maintain(ctx context.Context) error {
	recs, err := m.store.List(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	now := m.opts.Now()
	err = m.promote(ctx, recs, func(k store.SigningKey) bool {
		return m.urgent(recs, k.Algorithm) || !now.Before(k.CreatedAt.Add(m.opts.PublishDelay))
	})
	if err != nil {
		return err
	}
	if err := m.retireUnused(ctx, now); err != nil {
		return err
	}
	// A replica may go on signing with a key for up to one RefreshInterval after
	// another replica retired it, so its tokens can be that much younger.
	cutoff := now.Add(-m.opts.MaxTokenLifetime - m.opts.RefreshInterval)
	if _, err := m.store.DeleteRetiredBefore(ctx, cutoff); err != nil {
		return fmt.Errorf("keys: delete retired signing keys: %w", err)
	}
	return m.Refresh(ctx)
}

// retireUnused retires the active keys of algorithms no longer configured, once
// every configured algorithm has an active key to sign in their place.
func (m *Manager) retireUnused(ctx context.Context, now time.Time) error {
	recs, err := m.store.List(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	for _, alg := range m.algs {
		if findActive(recs, alg) == nil {
			return nil
		}
	}
	for _, k := range recs {
		if k.State != store.KeyActive || slices.Contains(m.algs, k.Algorithm) {
			continue
		}
		if err := m.store.Retire(ctx, k.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("keys: retire %s signing key %q: %w", k.Algorithm, k.ID, err)
		}
	}
	return nil
}

// promote promotes the next keys that pass ready, oldest first, so that the newest
// ends active and older ones are retired rather than left waiting forever.
func (m *Manager) promote(ctx context.Context, recs []store.SigningKey, ready func(store.SigningKey) bool) error {
	var next []store.SigningKey
	for _, k := range recs {
		if k.State == store.KeyNext && ready(k) {
			next = append(next, k)
		}
	}
	slices.SortFunc(next, compareAge)
	for _, k := range next {
		err := m.store.Promote(ctx, k.ID, m.opts.Now())
		if err != nil && !errors.Is(err, store.ErrNotFound) { // ErrNotFound: another replica promoted it
			return fmt.Errorf("keys: promote signing key %q: %w", k.ID, err)
		}
	}
	return nil
}

// Reseal seals again, with the keyring's newest master key, every private key sealed
// with an older one, and returns how many it changed. It is idempotent and safe to
// rerun after an interruption.
func (m *Manager) Reseal(ctx context.Context) (int, error) {
	recs, err := m.store.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("keys: list signing keys: %w", err)
	}
	n := 0
	for _, k := range recs {
		if !m.keyring.NeedsReseal(k.PrivateEnc) {
			continue
		}
		der, err := m.keyring.Open(k.PrivateEnc, []byte(k.ID))
		if err != nil {
			return n, fmt.Errorf("%w: kid %q: open private key: %w", ErrKeyMaterial, k.ID, err)
		}
		sealed, err := m.keyring.Seal(der, []byte(k.ID))
		clear(der)
		if err != nil {
			return n, fmt.Errorf("keys: kid %q: %w", k.ID, err)
		}
		if err := m.store.Reseal(ctx, k.ID, sealed); err != nil {
			return n, fmt.Errorf("keys: reseal kid %q: %w", k.ID, err)
		}
		n++
	}
	return n, m.Refresh(ctx)
}

// Refresh rereads the keys from the database now. If any stored key is unusable it
// returns an ErrKeyMaterial error and keeps the previous cache.
func (m *Manager) Refresh(ctx context.Context) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	return m.reloadLocked(ctx)
}

func (m *Manager) reloadLocked(ctx context.Context) error {
	recs, err := m.store.List(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	s, err := m.build(recs, m.snap.Load())
	if err != nil {
		return err
	}
	m.snap.Store(s)
	return nil
}

// build decodes recs into a snapshot, reusing keys already decoded in prev.
func (m *Manager) build(recs []store.SigningKey, prev *snapshot) (*snapshot, error) {
	s := &snapshot{byKID: make(map[string]*loadedKey, len(recs)), activeByAlg: make(map[string]*loadedKey, len(m.algs)),
		refreshAt: m.opts.Now().Add(m.opts.RefreshInterval)}
	for _, rec := range recs {
		if rec.State != store.KeyNext && rec.State != store.KeyActive && rec.State != store.KeyRetired {
			return nil, fmt.Errorf("%w: kid %q: unknown state %q", ErrKeyMaterial, rec.ID, rec.State)
		}
		var lk *loadedKey
		if old := prev.lookup(rec.ID); old != nil && old.sameRecord(rec) && (old.private != nil || rec.State == store.KeyRetired) {
			lk = &loadedKey{rec: rec, public: old.public}
			if rec.State != store.KeyRetired {
				lk.private = old.private
			}
			if rec.State == store.KeyActive && old.signer != nil {
				lk.signer = old.signer // keeps its per-typ jose.Signer cache
			}
		} else {
			var err error
			if lk, err = load(m.keyring, rec); err != nil {
				return nil, err
			}
		}
		if _, dup := s.byKID[rec.ID]; dup {
			return nil, fmt.Errorf("%w: kid %q is stored twice", ErrKeyMaterial, rec.ID)
		}
		s.byKID[rec.ID] = lk
		if rec.State == store.KeyActive {
			// Promote leaves at most one active key per algorithm; should a backend
			// ever break that, sign with the most recently activated one.
			if cur := s.activeByAlg[rec.Algorithm]; cur == nil || rec.ActivatedAt.After(cur.rec.ActivatedAt) {
				s.activeByAlg[rec.Algorithm] = lk
			}
			if s.active == nil || rec.ActivatedAt.After(s.active.rec.ActivatedAt) {
				s.active = lk
			}
		}
	}
	if k := s.activeByAlg[m.opts.Algorithm]; k != nil {
		s.active = k
	}
	for _, k := range s.activeByAlg {
		if k.signer == nil {
			k.signer = newSigner(k)
		}
	}
	jwks, err := marshalJWKS(s.byKID)
	if err != nil {
		return nil, err
	}
	s.jwks = jwks
	return s, nil
}

func (s *snapshot) lookup(kid string) *loadedKey {
	if s == nil {
		return nil
	}
	return s.byKID[kid]
}

var stateOrder = map[string]int{store.KeyActive: 0, store.KeyNext: 1, store.KeyRetired: 2}

func marshalJWKS(keys map[string]*loadedKey) ([]byte, error) {
	sorted := make([]*loadedKey, 0, len(keys))
	for _, k := range keys {
		sorted = append(sorted, k)
	}
	// A stable order keeps the document byte-identical between refreshes (and so
	// cacheable); the active key first helps clients that try keys in order.
	slices.SortFunc(sorted, func(a, b *loadedKey) int {
		return cmp.Or(cmp.Compare(stateOrder[a.rec.State], stateOrder[b.rec.State]),
			b.rec.CreatedAt.Compare(a.rec.CreatedAt), cmp.Compare(a.rec.ID, b.rec.ID))
	})
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(sorted))}
	for _, k := range sorted {
		set.Keys = append(set.Keys, k.publicJWK())
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal JWKS: %w", err)
	}
	return b, nil
}

func findActive(recs []store.SigningKey, alg string) *store.SigningKey {
	return find(recs, func(k store.SigningKey) bool { return k.State == store.KeyActive && k.Algorithm == alg })
}

func findNext(recs []store.SigningKey, alg string) *store.SigningKey {
	return find(recs, func(k store.SigningKey) bool { return k.State == store.KeyNext && k.Algorithm == alg })
}

func find(recs []store.SigningKey, match func(store.SigningKey) bool) *store.SigningKey {
	for i := range recs {
		if match(recs[i]) {
			return &recs[i]
		}
	}
	return nil
}

func findState(recs []store.SigningKey, state string) *store.SigningKey {
	for i := range recs {
		if recs[i].State == state {
			return &recs[i]
		}
	}
	return nil
}

// view returns the current snapshot. The database is read only when the cache is
// older than RefreshInterval, by one caller at a time, while concurrent callers
// keep using the previous snapshot; a failed reload is logged and retried one
// RefreshInterval later, the previous keys staying in use meanwhile.
func (m *Manager) view(ctx context.Context) (*snapshot, error) {
	s := m.snap.Load()
	if s == nil {
		// Nothing loaded yet (EnsureKey not called): load, waiting if need be.
		if err := m.Refresh(ctx); err != nil {
			return nil, err
		}
		return m.snap.Load(), nil
	}
	now := m.opts.Now()
	if now.Before(s.refreshAt) || !m.reloadMu.TryLock() {
		return s, nil
	}
	defer m.reloadMu.Unlock()
	if cur := m.snap.Load(); cur != s {
		return cur, nil // reloaded while we were checking
	}
	if err := m.reloadLocked(ctx); err != nil {
		m.opts.Logger.ErrorContext(ctx, "signing keys: cache refresh failed; serving the previous keys", "error", err)
		stale := *s
		stale.refreshAt = now.Add(m.opts.RefreshInterval)
		m.snap.Store(&stale)
		return &stale, nil
	}
	return m.snap.Load(), nil
}

// JWKS returns the JSON Web Key Set (RFC 7517 §5) of the published keys — next,
// active and retired — with public members, kid, alg and use "sig" only.
func (m *Manager) JWKS(ctx context.Context) ([]byte, error) {
	s, err := m.view(ctx)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(s.jwks), nil
}

// KeyIDs returns the kids of the published keys.
func (m *Manager) KeyIDs(ctx context.Context) ([]string, error) {
	s, err := m.view(ctx)
	if err != nil {
		return nil, err
	}
	kids := make([]string, 0, len(s.byKID))
	for kid := range s.byKID {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	return kids, nil
}

// JWKSWithout is JWKS without the keys kids: those another replica revoked that
// this one has not yet dropped at a refresh.
func (m *Manager) JWKSWithout(ctx context.Context, kids []string) ([]byte, error) {
	s, err := m.view(ctx)
	if err != nil {
		return nil, err
	}
	keep := make(map[string]*loadedKey, len(s.byKID))
	for kid, k := range s.byKID {
		if !slices.Contains(kids, kid) {
			keep[kid] = k
		}
	}
	return marshalJWKS(keep)
}
