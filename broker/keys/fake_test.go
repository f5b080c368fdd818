package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// fakeKeys is an in-memory store.SigningKeys with the semantics the contract
// documents; Promote is atomic under the mutex, as the SQL transaction is.
type fakeKeys struct {
	mu    sync.Mutex
	keys  []store.SigningKey
	lists int // List calls, to show reads are served from the cache

	failList error                  // returned by List when set
	onInsert func(store.SigningKey) // called before Insert stores, outside the lock
}

var _ store.SigningKeys = (*fakeKeys)(nil)

func (f *fakeKeys) Insert(_ context.Context, k store.SigningKey) error {
	if f.onInsert != nil {
		f.onInsert(k)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.keys {
		if e.ID == k.ID {
			return fmt.Errorf("insert: %w", store.ErrConflict)
		}
	}
	k.PublicJWK, k.PrivateEnc = bytes.Clone(k.PublicJWK), bytes.Clone(k.PrivateEnc)
	f.keys = append(f.keys, k)
	return nil
}

func (f *fakeKeys) List(context.Context) ([]store.SigningKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if f.failList != nil {
		return nil, f.failList
	}
	out := make([]store.SigningKey, len(f.keys))
	for i, k := range f.keys {
		k.PublicJWK, k.PrivateEnc = bytes.Clone(k.PublicJWK), bytes.Clone(k.PrivateEnc)
		out[i] = k
	}
	return out, nil
}

func (f *fakeKeys) Promote(_ context.Context, kid string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.keys, func(k store.SigningKey) bool { return k.ID == kid && k.State == store.KeyNext })
	if i < 0 {
		return fmt.Errorf("promote: %w", store.ErrNotFound)
	}
	for j := range f.keys {
		if f.keys[j].State == store.KeyActive && f.keys[j].Algorithm == f.keys[i].Algorithm {
			f.keys[j].State, f.keys[j].RetiredAt = store.KeyRetired, now
		}
	}
	f.keys[i].State, f.keys[i].ActivatedAt = store.KeyActive, now
	return nil
}

func (f *fakeKeys) Retire(_ context.Context, kid string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.keys, func(k store.SigningKey) bool { return k.ID == kid && k.State == store.KeyActive })
	if i < 0 {
		return fmt.Errorf("retire: %w", store.ErrNotFound)
	}
	f.keys[i].State, f.keys[i].RetiredAt = store.KeyRetired, now
	return nil
}

func (f *fakeKeys) Delete(_ context.Context, kid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.keys)
	f.keys = slices.DeleteFunc(f.keys, func(k store.SigningKey) bool { return k.ID == kid })
	if len(f.keys) == n {
		return fmt.Errorf("delete: %w", store.ErrNotFound)
	}
	return nil
}

func (f *fakeKeys) DeleteRetiredBefore(_ context.Context, t time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.keys)
	f.keys = slices.DeleteFunc(f.keys, func(k store.SigningKey) bool {
		return k.State == store.KeyRetired && k.RetiredAt.Before(t)
	})
	return int64(n - len(f.keys)), nil
}

func (f *fakeKeys) Reseal(_ context.Context, kid string, privateEnc []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.keys {
		if f.keys[i].ID == kid {
			f.keys[i].PrivateEnc = bytes.Clone(privateEnc)
			return nil
		}
	}
	return fmt.Errorf("reseal: %w", store.ErrNotFound)
}

// snapshot returns a copy of the stored records.
func (f *fakeKeys) records() []store.SigningKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.keys)
}

// serverKeys returns the stored records but the RS256 ID-token keys kept beside
// another server algorithm: the keys whose lifecycle most tests follow.
func (f *fakeKeys) serverKeys() []store.SigningKey {
	recs := f.records()
	if slices.ContainsFunc(recs, func(k store.SigningKey) bool { return k.Algorithm != RS256 }) {
		recs = slices.DeleteFunc(recs, func(k store.SigningKey) bool { return k.Algorithm == RS256 })
	}
	return recs
}

func (f *fakeKeys) listCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

func (f *fakeKeys) setFailList(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failList = err
}

func (f *fakeKeys) update(kid string, edit func(*store.SigningKey)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.keys {
		if f.keys[i].ID == kid {
			edit(&f.keys[i])
			return nil
		}
	}
	return errors.New("no such key")
}

// clock is a fixed clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rotate rotates m's keys and returns the new key of the server's algorithm, the
// one the lifecycle tests follow (Rotate creates the RS256 one beside it).
func rotate(ctx context.Context, m *Manager) (store.SigningKey, error) {
	recs, err := m.Rotate(ctx)
	if err != nil {
		return store.SigningKey{}, err
	}
	return recs[0], nil
}
