package operations

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/broker/store"
)

// SecurityKeys lists a person's security keys and passkeys (issue 15), a
// clone warning included; ErrNotFound if there is no such user.
func (s *Service) SecurityKeys(ctx context.Context, userID string) ([]store.SecurityKey, error) {
	if _, err := s.Store.Users().Get(ctx, userID); errors.Is(err, store.ErrNotFound) {
		return nil, notFound(fmt.Sprintf("no user %q", userID), err)
	} else if err != nil {
		return nil, err
	}
	return s.Store.SecurityKeys().ListForUser(ctx, userID)
}

// RemoveSecurityKey removes a person's key: one reported lost, or flagged as
// possibly cloned. An admin may remove the last one even where policy requires
// a key: the person then adds a new one when next asked to use it. It records
// securitykey.removed.
func (s *Service) RemoveSecurityKey(ctx context.Context, a Actor, userID, keyID string) error {
	return s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.SecurityKeys().Delete(ctx, userID, keyID, false); errors.Is(err, store.ErrNotFound) {
			return notFound(fmt.Sprintf("user %q has no security key %q", userID, keyID), err)
		} else if err != nil {
			return err
		}
		return s.record(ctx, tx, a, "securitykey.removed", keyID, map[string]any{"user": userID, "by": "admin"})
	})
}
