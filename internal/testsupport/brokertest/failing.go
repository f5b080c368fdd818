package brokertest

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// FailingStore makes each store operation whose switch is on fail, as a crash at
// that point would leave things: whatever was written before it stays, nothing
// after it happens.
type FailingStore struct {
	store.Store
	FailCodes   atomic.Bool
	FailRefresh atomic.Bool
	FailRevoke  atomic.Bool
}

type failingCodes struct {
	store.Codes
	s *FailingStore
}

func (c failingCodes) Create(ctx context.Context, code store.AuthCode) error {
	if c.s.FailCodes.Load() {
		return errors.New("crash before the code was stored")
	}
	return c.Codes.Create(ctx, code)
}

type failingRefresh struct {
	store.RefreshTokens
	s *FailingStore
}

func (r failingRefresh) Create(ctx context.Context, t store.RefreshToken) error {
	if r.s.FailRefresh.Load() {
		return errors.New("crash before the tokens were stored")
	}
	return r.RefreshTokens.Create(ctx, t)
}

func (r failingRefresh) Revoke(ctx context.Context, f store.RefreshFilter, now time.Time) (int64, error) {
	if r.s.FailRevoke.Load() {
		return 0, errors.New("crash before the tokens were revoked")
	}
	return r.RefreshTokens.Revoke(ctx, f, now)
}

func (f *FailingStore) Codes() store.Codes { return failingCodes{f.Store.Codes(), f} }
func (f *FailingStore) RefreshTokens() store.RefreshTokens {
	return failingRefresh{f.Store.RefreshTokens(), f}
}

// InTx runs fn on the transaction's store wrapped with the same switches, so that
// a failure inside an InTx is one too.
func (f *FailingStore) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	return f.Store.InTx(ctx, func(tx store.Store) error {
		return fn(&failingTx{Store: tx, s: f})
	})
}

// InBatches runs fn on each batch's store wrapped with the same switches, as InTx.
func (f *FailingStore) InBatches(ctx context.Context, n, most int, fn func(tx store.Store, from, to int) error) error {
	return f.Store.InBatches(ctx, n, most, func(tx store.Store, from, to int) error {
		return fn(&failingTx{Store: tx, s: f}, from, to)
	})
}

// failingTx is a transaction's store under a FailingStore's switches.
type failingTx struct {
	store.Store
	s *FailingStore
}

func (t *failingTx) Codes() store.Codes { return failingCodes{t.Store.Codes(), t.s} }
func (t *failingTx) RefreshTokens() store.RefreshTokens {
	return failingRefresh{t.Store.RefreshTokens(), t.s}
}
func (t *failingTx) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	return t.Store.InTx(ctx, func(tx store.Store) error {
		return fn(&failingTx{Store: tx, s: t.s})
	})
}
