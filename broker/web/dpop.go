package web

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/broker/dpop"
	"github.com/gatehouse/gatehouse/broker/store"
)

// DPoPGuard checks DPoP proofs (RFC 9449) for every endpoint of this server:
// jti values go to the store's replay cache, so a proof is accepted once
// across replicas, and server nonces, when GATEHOUSE_DPOP_NONCE=required, are
// keyed from the session keys (or the master key) every replica shares.
func (c *Core) DPoPGuard() (*dpop.Guard, error) {
	g := &dpop.Guard{Seen: func(ctx context.Context, key string, expiresAt time.Time) (bool, error) {
		err := c.Store.Replay().Remember(ctx, key, expiresAt, c.Now())
		if errors.Is(err, store.ErrAlreadyUsed) {
			return true, nil
		}
		return false, err
	}}
	if c.Config.DPoPNonceRequired {
		pairs, err := CookieKeyPairs(c.Config, "dpop nonce")
		if err != nil {
			return nil, err
		}
		n := &dpop.Nonces{}
		for i := 0; i < len(pairs); i += 2 { // the authentication key of each pair
			n.Keys = append(n.Keys, pairs[i])
		}
		g.Nonces = n
	}
	return g, nil
}
