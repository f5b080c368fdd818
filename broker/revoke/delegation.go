package revoke

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// Delegation ends the delegation id for reason (a store.DelegationEnd* reason),
// and with it everything given under it: the re-delegations given from it
// (recursively, reason "parent_ended"), the refresh tokens issued under each, and
// for each one revocation-list entry ("delegation:<id>") that makes the access
// tokens issued under it inactive at introspection at once, on every replica. It
// is the one way a delegation ends: the grantor revoking, the grantee declining,
// a user disabled and the grantor's entitlement lost all come here.
//
// An ended delegation never becomes usable again, so each entry covers every issue
// time until the last access token issued under it has expired (now +
// accessTokenTTL), including one a concurrent request is issuing. The first end
// wins (store.Delegations.End); running it again finishes an interrupted run.
// Call it in a transaction (store.Store.InTx) so that the ends and the entries
// commit together. ErrNotFound if there is no such delegation.
func Delegation(ctx context.Context, st store.Store, id, reason string, now time.Time, accessTokenTTL time.Duration) error {
	return endDelegation(ctx, st, id, reason, now, now.Add(accessTokenTTL), map[string]bool{})
}

// endDelegation ends id and, depth first, its re-delegations; seen guards against
// a cycle of parents that Give never creates but a damaged database might hold.
func endDelegation(ctx context.Context, st store.Store, id, reason string, now, until time.Time, seen map[string]bool) error {
	if seen[id] {
		return nil
	}
	seen[id] = true
	if err := st.Delegations().End(ctx, id, now, reason); err != nil {
		return fmt.Errorf("end delegation %s: %w", id, err)
	}
	if _, err := st.RefreshTokens().Revoke(ctx, store.RefreshFilter{DelegationID: id}, now); err != nil {
		return fmt.Errorf("revoke the refresh tokens of delegation %s: %w", id, err)
	}
	if err := st.Revocations().Revoke(ctx, until, until, token.DelegationRevocationKey(id)); err != nil {
		return fmt.Errorf("revoke the access tokens of delegation %s: %w", id, err)
	}
	children, err := st.Delegations().ListByParent(ctx, id)
	if err != nil {
		return err
	}
	for _, c := range children {
		if err := endDelegation(ctx, st, c.ID, store.DelegationEndParentEnded, now, until, seen); err != nil {
			return err
		}
	}
	return nil
}

// UserDelegations ends every delegation the user gave (reason "grantor_disabled")
// or received (reason "grantee_disabled") that is still active, with what was
// given under each (Delegation): the user was disabled. Signing a user out does
// not call it: that ends sessions, and a delegation outlives its parties'
// sessions. It returns how many of the user's delegations it ended.
func UserDelegations(ctx context.Context, st store.Store, userID string, now time.Time, accessTokenTTL time.Duration) (int, error) {
	given, err := st.Delegations().ListByGrantor(ctx, userID)
	if err != nil {
		return 0, err
	}
	received, err := st.Delegations().ListByGrantee(ctx, userID, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range []struct {
		ds     []store.Delegation
		reason string
	}{{given, store.DelegationEndGrantorDisabled}, {received, store.DelegationEndGranteeDisabled}} {
		for _, d := range l.ds {
			if !d.RevokedAt.IsZero() || !now.Before(d.ExpiresAt) {
				continue // ended or expired already: nothing under it is usable
			}
			if err := Delegation(ctx, st, d.ID, l.reason, now, accessTokenTTL); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// ClientDelegations ends every delegation given to the app clientID, which is
// being deleted: an app registered later under the same ID is another app,
// which nobody gave anything to. It returns how many it ended.
func ClientDelegations(ctx context.Context, st store.Store, clientID string, now time.Time, accessTokenTTL time.Duration) (int, error) {
	received, err := st.Delegations().ListByGrantee(ctx, "", clientID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range received {
		if !d.RevokedAt.IsZero() || !now.Before(d.ExpiresAt) {
			continue // ended or expired already: nothing under it is usable
		}
		if err := Delegation(ctx, st, d.ID, store.DelegationEndGranteeRemoved, now, accessTokenTTL); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// DelegationTokens revokes what was issued under the delegation id up to now
// without ending it: its refresh tokens, and through its "delegation:<id>"
// entry every access token issued under it at or before now (the entry keeps
// the later time if the delegation has ended meanwhile). The delegation stays:
// what the grantor still holds can be asked for again, and a token issued
// after now carries what the delegation covers then. The grantor losing some
// of its scopes comes here (delegate.Service.Recheck): a token already issued
// may carry a lost one. It returns how many refresh tokens it revoked.
func DelegationTokens(ctx context.Context, st store.Store, id string, now time.Time, accessTokenTTL time.Duration) (int64, error) {
	n, err := st.RefreshTokens().Revoke(ctx, store.RefreshFilter{DelegationID: id}, now)
	if err != nil {
		return 0, fmt.Errorf("revoke the refresh tokens of delegation %s: %w", id, err)
	}
	if err := st.Revocations().Revoke(ctx, now, now.Add(accessTokenTTL), token.DelegationRevocationKey(id)); err != nil {
		return n, fmt.Errorf("revoke the access tokens of delegation %s: %w", id, err)
	}
	return n, nil
}
