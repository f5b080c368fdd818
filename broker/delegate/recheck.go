package delegate

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
)

// Over is a Service with the same rules, audit writer, clock and token
// lifetime over st: an admin operation re-checks delegations in its own
// transaction (store.Store.InTx), so that its change and what the change ends
// commit together.
func (s *Service) Over(st store.Store) *Service {
	return &Service{Store: st, Audit: s.Audit, Now: s.Now, AccessTokenTTL: s.AccessTokenTTL, Log: s.Log}
}

// maxRecheckDepth bounds how far Recheck follows re-delegations from a
// delegation (Give keeps chains far shorter; a damaged database might not).
const maxRecheckDepth = 16

// Recheck works out now what each delegation grantorID gave still covers, and
// what each re-delegation passed on from those covers (issue 11: "Revocation is
// immediate"), instead of waiting for the next use (Usable): the grantor's
// roles may just have changed (a sign-in with other claims, an admin's change
// of a provider's role rules). A delegation whose grantor holds none of its
// scopes any more ends (reason entitlement_lost, audited delegation.ended), and
// its re-delegations with it. One of whose scopes only some are lost stays, but
// what was issued under it may carry a lost scope: its refresh tokens and
// access tokens are revoked (revoke.DelegationTokens) and delegation.narrowed
// records the lost scopes; the app authorizes again and gets what is left. A
// loss is acted on once (store.Delegation.Withheld): a later Recheck that finds
// the same loss leaves the tokens issued since alone. Delegations refused for
// another reason (expired, a party disabled, the API closed) are left to what
// ends those; Usable refuses them at every issue meanwhile.
func (s *Service) Recheck(ctx context.Context, grantorID string) error {
	given, err := s.Store.Delegations().ListByGrantor(ctx, grantorID)
	if err != nil {
		return err
	}
	now := s.now()
	seen := map[string]bool{}
	for _, d := range given {
		if err := s.recheck(ctx, d, now, 0, seen); err != nil {
			return err
		}
	}
	return nil
}

// recheck re-checks d, then (unless d ended) the re-delegations from it.
func (s *Service) recheck(ctx context.Context, d store.Delegation, now time.Time, depth int, seen map[string]bool) error {
	if seen[d.ID] || depth > maxRecheckDepth {
		return nil
	}
	seen[d.ID] = true
	if st := d.Status(now, 0); st != store.DelegationActive && st != store.DelegationExpiringSoon {
		return nil // ended (with what was passed on from it) or expired
	}
	c, err := s.covered(ctx, d, now)
	if _, ok := errors.AsType[*Unusable](err); ok {
		return nil
	}
	if err != nil {
		return err
	}
	if c.lostID != "" {
		// c.lostID is d or the delegation it was passed on from: as Usable.
		return s.end(ctx, systemActor, "delegation.ended", c.lostID, store.DelegationEndEntitlementLost, now)
	}
	var lost []string
	for _, sc := range d.Scopes {
		if !slices.Contains(c.allowed, sc) {
			lost = append(lost, sc)
		}
	}
	if err := s.narrow(ctx, d, lost, c.allowed, now); err != nil {
		return err
	}
	children, err := s.Store.Delegations().ListByParent(ctx, d.ID)
	if err != nil {
		return err
	}
	for _, ch := range children {
		if err := s.recheck(ctx, ch, now, depth+1, seen); err != nil {
			return err
		}
	}
	return nil
}

// narrowDetails are the details of a delegation.narrowed event.
type narrowDetails struct {
	// Withheld are the scopes lost now; Scopes, what tokens under it may carry.
	Withheld []string `json:"withheld"`
	Scopes   []string `json:"scopes"`
}

// narrow records that d's lost scopes are withheld, and revokes what was issued
// under it if one of them was not withheld before, in one transaction.
func (s *Service) narrow(ctx context.Context, d store.Delegation, lost, left []string, now time.Time) error {
	var fresh []string
	for _, sc := range lost {
		if !slices.Contains(d.Withheld, sc) {
			fresh = append(fresh, sc)
		}
	}
	if len(fresh) == 0 && len(lost) == len(d.Withheld) {
		return nil // the same loss as last time (or none): acted on already
	}
	ri := web.InfoFrom(ctx)
	return s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.Delegations().Withhold(ctx, d.ID, lost); err != nil {
			return err
		}
		if len(fresh) == 0 {
			return nil // a scope came back: what was issued carries no lost one
		}
		if _, err := revoke.DelegationTokens(ctx, tx, d.ID, now, s.AccessTokenTTL); err != nil {
			return err
		}
		return s.Audit.RecordTo(ctx, tx.Audit(), audit.Event{Actor: systemActor, Action: "delegation.narrowed",
			Target: d.ID, IP: ri.IP, RequestID: ri.ID, Details: narrowDetails{Withheld: fresh, Scopes: left}})
	})
}

// expiredBatch bounds the delegations one query of EndExpired lists.
const expiredBatch = 200

// EndExpired ends every delegation that has expired and not ended yet (reason
// expired, through revoke.Delegation, audited delegation.expired by
// gatehouse): an expired delegation is refused everywhere already, but its
// expiry is an event for the grantor's Activity page, and its refresh tokens
// are revoked at once rather than refused at their next use (issue 11). The
// server's maintenance pass calls it; it returns how many it ended.
func (s *Service) EndExpired(ctx context.Context) (int64, error) {
	now := s.now()
	var ended int64
	for {
		ds, err := s.Store.Delegations().ListExpired(ctx, now, expiredBatch)
		if err != nil {
			return ended, err
		}
		for _, d := range ds {
			n, err := s.expire(ctx, d.ID, now)
			ended += n
			if err != nil {
				return ended, err
			}
		}
		if len(ds) < expiredBatch {
			return ended, nil
		}
	}
}

// expire ends id as expired unless it has ended meanwhile (another replica's
// pass), after the re-delegations from it that have expired too: ending id
// first would end those as parent_ended, and their grantors' pages would not
// say they expired.
// It returns how many it ended; none if the transaction failed.
func (s *Service) expire(ctx context.Context, id string, now time.Time) (int64, error) {
	var ended int64
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		var err error
		ended, err = s.expireTree(ctx, tx, id, now, 0)
		return err
	})
	if err != nil {
		return 0, err
	}
	return ended, nil
}

func (s *Service) expireTree(ctx context.Context, tx store.Store, id string, now time.Time, depth int) (int64, error) {
	d, err := tx.Delegations().Get(ctx, id)
	if err != nil || !d.RevokedAt.IsZero() || now.Before(d.ExpiresAt) || depth > maxRecheckDepth {
		return 0, err
	}
	children, err := tx.Delegations().ListByParent(ctx, id)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range children {
		m, err := s.expireTree(ctx, tx, c.ID, now, depth+1)
		if err != nil {
			return 0, err
		}
		n += m
	}
	if err := revoke.Delegation(ctx, tx, id, store.DelegationEndExpired, now, s.AccessTokenTTL); err != nil {
		return 0, err
	}
	return n + 1, s.Audit.RecordTo(ctx, tx.Audit(), audit.Event{Actor: systemActor, Action: "delegation.expired",
		Target: id, Details: map[string]any{"reason": store.DelegationEndExpired, "expired_at": d.ExpiresAt}})
}
