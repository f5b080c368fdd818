package operations

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"
)

// The key operations that go through keys.Manager (RotateKeys, RevokeKey,
// ResealKeys) are not one transaction with their audit event: the manager owns
// its writes, on the store it was built with, and takes the key lock itself. The
// event is written right after the manager's change; a failure to write it is
// reported.

// errNoKeys: a key operation on a Service without a key manager.
var errNoKeys = errors.New("operations: no signing-key manager")

// ListKeys returns the token-signing keys. Like every key operation it first
// makes sure a key exists, as serve would: an empty list before first start
// would only confuse.
func (s *Service) ListKeys(ctx context.Context) ([]store.SigningKey, error) {
	if err := s.ensureKey(ctx); err != nil {
		return nil, err
	}
	return s.Store.SigningKeys().List(ctx)
}

// RotateKeys creates a next key per algorithm, published at once and signing
// after the publish delay (keys.Manager.Rotate). It records key.rotated for each.
func (s *Service) RotateKeys(ctx context.Context, a Actor) ([]store.SigningKey, error) {
	if err := s.ensureKey(ctx); err != nil {
		return nil, err
	}
	ks, err := s.Keys.Rotate(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range ks {
		if err := s.record(ctx, s.Store, a, "key.rotated", k.ID, map[string]any{"alg": k.Algorithm}); err != nil {
			return ks, err
		}
	}
	return ks, nil
}

// RevokeKey revokes a compromised signing key: every token it signed is refused
// at once on every replica, and a new key replaces it if it was signing
// (revoke.SigningKey). ErrNotFound if there is no key kid. It records
// key.revoked.
func (s *Service) RevokeKey(ctx context.Context, a Actor, kid string) (keys.Revoked, error) {
	if err := s.ensureKey(ctx); err != nil {
		return keys.Revoked{}, err
	}
	res, err := revoke.SigningKey(ctx, s.Store, s.Keys, kid, s.now())
	if err != nil {
		return res, storeErr(err)
	}
	details := map[string]any{"alg": res.Key.Algorithm, "state": res.Key.State}
	if res.Replacement != nil {
		details["replacement"] = res.Replacement.ID
	}
	if err := s.record(ctx, s.Store, a, "key.revoked", kid, details); err != nil {
		return res, errors.Join(errors.New("the key is revoked but the audit event was not written"), err)
	}
	return res, nil
}

// ResealKeys re-encrypts every signing key sealed with an old master key under
// the newest one (master-key rotation). It records keys.resealed when it
// resealed any.
func (s *Service) ResealKeys(ctx context.Context, a Actor) (int, error) {
	if s.Keys == nil {
		return 0, errNoKeys
	}
	n, err := s.Keys.Reseal(ctx)
	if err != nil || n == 0 {
		return n, err
	}
	return n, s.record(ctx, s.Store, a, "keys.resealed", "", map[string]any{"keys": n})
}

// Watermark is the restore watermark (DATA-12): everything issued before t stops
// working (revoke.IssuedBefore). It records watermark.applied, in the same
// transaction.
func (s *Service) Watermark(ctx context.Context, a Actor, t time.Time) (refresh int64, sessions int, err error) {
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		var err error
		if refresh, sessions, err = revoke.IssuedBefore(ctx, tx, t, s.AccessTokenTTL); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "watermark.applied", "", map[string]any{
			"before": t.UTC().Format(time.RFC3339), "refresh_tokens_revoked": refresh, "sessions_ended": sessions})
	})
	return refresh, sessions, err
}

func (s *Service) ensureKey(ctx context.Context) error {
	if s.Keys == nil {
		return errNoKeys
	}
	return s.Keys.EnsureKey(ctx)
}
