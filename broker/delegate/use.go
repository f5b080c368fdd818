package delegate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
)

// Usable returns the scopes a token under d may carry now (before the token
// issuer intersects them with what the client may ask): d's scopes that the
// grantor still holds (their current roles, upstream.UserRoles; for a
// re-delegation, what the delegation it was passed on from covers now) and that
// the API's policy lets be delegated now. It refuses, with an ErrUnusable, a
// delegation that has ended or expired, whose grantor or delegate is disabled or
// gone, whose API no longer allows delegation, or that covers nothing now. When
// the grantor no longer holds any scope of it at all, it ends the delegation
// (reason entitlement_lost, through revoke.Delegation) before refusing: what was
// issued under it stops too. Call it at every issue: consent, refresh and token
// exchange.
func (s *Service) Usable(ctx context.Context, d store.Delegation, now time.Time) ([]string, error) {
	c, err := s.covered(ctx, d, now)
	if err != nil {
		return nil, err
	}
	if c.lostID != "" {
		if err := s.end(ctx, systemActor, "delegation.ended", c.lostID, store.DelegationEndEntitlementLost, now); err != nil {
			return nil, err
		}
		return nil, &Unusable{Reason: "the grantor no longer holds any of its permissions"}
	}
	if len(c.allowed) == 0 {
		return nil, &Unusable{Reason: "none of its permissions may be delegated now"}
	}
	return c.allowed, nil
}

// Covers is Usable without its side effect: the scopes d may be used for now,
// or the ErrUnusable refusal, changing nothing (a page offering what can be
// passed on must not end anything on a GET).
func (s *Service) Covers(ctx context.Context, d store.Delegation, now time.Time) ([]string, error) {
	c, err := s.covered(ctx, d, now)
	if err != nil {
		return nil, err
	}
	if c.lostID != "" || len(c.allowed) == 0 {
		return nil, &Unusable{Reason: "it covers nothing now"}
	}
	return c.allowed, nil
}

// coverage is what a delegation covers now: held, its scopes the grantor holds
// (for a re-delegation, within what its parent holds); allowed, those the
// policy lets be delegated; lostID, the delegation to end for lost entitlement
// (itself or an ancestor), if any.
type coverage struct {
	held, allowed []string
	lostID        string
}

// covered works out d's coverage without changing anything.
func (s *Service) covered(ctx context.Context, d store.Delegation, now time.Time) (coverage, error) {
	switch d.Status(now, 0) {
	case store.DelegationExpired:
		return coverage{}, &Unusable{Reason: "expired"}
	case store.DelegationRevoked, store.DelegationDeclined:
		return coverage{}, &Unusable{Reason: "ended"}
	}
	if ok, err := s.enabledUser(ctx, d.GrantorID); err != nil || !ok {
		return coverage{}, orUnusable(err, "the grantor is disabled")
	}
	api, err := s.Store.APIs().GetByAudience(ctx, d.Audience)
	if errors.Is(err, store.ErrNotFound) {
		return coverage{}, &Unusable{Reason: "the API is gone"}
	}
	if err != nil {
		return coverage{}, err
	}
	if !api.Delegation.Allowed {
		return coverage{}, &Unusable{Reason: "the API no longer allows delegation"}
	}
	if d.GranteeUserID != "" {
		if ok, err := s.enabledUser(ctx, d.GranteeUserID); err != nil || !ok {
			return coverage{}, orUnusable(err, "the delegate is disabled")
		}
	} else {
		c, err := s.Store.Clients().Get(ctx, d.GranteeClientID)
		if errors.Is(err, store.ErrNotFound) {
			return coverage{}, &Unusable{Reason: "the delegate app is gone"}
		}
		if err != nil {
			return coverage{}, err
		}
		if c.DefaultAudience != d.Audience && !slices.Contains(c.Audiences, d.Audience) {
			return coverage{}, &Unusable{Reason: "the delegate app may no longer use the API"}
		}
	}
	var holds []string
	if d.ParentID != "" {
		parent, err := s.Store.Delegations().Get(ctx, d.ParentID)
		if errors.Is(err, store.ErrNotFound) {
			return coverage{}, &Unusable{Reason: "the access it was passed on from is gone"}
		}
		if err != nil {
			return coverage{}, err
		}
		pc, err := s.covered(ctx, parent, now)
		if err != nil {
			return coverage{}, err
		}
		if pc.lostID != "" {
			return coverage{lostID: pc.lostID}, nil
		}
		holds = pc.held
	} else if holds, err = s.entitled(ctx, d.GrantorID, api); err != nil {
		return coverage{}, err
	}
	var c coverage
	for _, sc := range d.Scopes {
		if slices.Contains(holds, sc) {
			c.held = append(c.held, sc)
			if slices.Contains(api.Delegation.Scopes, sc) {
				c.allowed = append(c.allowed, sc)
			}
		}
	}
	if len(c.held) == 0 {
		c.lostID = d.ID
	}
	return c, nil
}

// entitled returns the scopes of api that userID's current roles entitle them to.
func (s *Service) entitled(ctx context.Context, userID string, api store.API) ([]string, error) {
	roles, err := upstream.UserRoles(ctx, s.Store, userID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, sc := range api.Scopes {
		if token.Entitled(sc, roles) {
			out = append(out, sc.Name)
		}
	}
	return out, nil
}

func (s *Service) enabledUser(ctx context.Context, id string) (bool, error) {
	u, err := s.Store.Users().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !u.Disabled, nil
}

func orUnusable(err error, reason string) error {
	if err != nil {
		return err
	}
	return &Unusable{Reason: reason}
}

// useDetails are the details of a delegation.used event (a struct: it is written
// at every token issued under a delegation).
type useDetails struct {
	Grantor  string   `json:"grantor"`
	Client   string   `json:"client"`
	Audience string   `json:"audience"`
	Scopes   []string `json:"scopes"`
}

// RecordUse records that clientID got a token with scopes under d, for the
// grantor's Activity page: a delegation.used audit event (batched, with the
// request's IP and ID) and the delegation's last use, written at most once a
// minute per delegation and replica. It never fails the caller: a lost "last
// used" time costs nothing, and the audit writer does not drop events.
func (s *Service) RecordUse(ctx context.Context, d store.Delegation, clientID string, scopes []string) {
	ri := web.InfoFrom(ctx)
	actor := d.GranteeUserID
	if actor == "" {
		actor = "client:" + d.GranteeClientID
	}
	s.Audit.Enqueue(audit.Event{Actor: actor, Action: "delegation.used", Target: d.ID, IP: ri.IP, RequestID: ri.ID,
		Details: useDetails{Grantor: d.GrantorID, Client: clientID, Audience: d.Audience, Scopes: scopes}})
	if ok, _ := s.touchLimiter().Take(d.ID, 1); !ok {
		return
	}
	if err := s.Store.Delegations().Touch(ctx, d.ID, s.now()); err != nil && s.Log != nil {
		s.Log.WarnContext(ctx, "delegation last use not recorded", "request_id", ri.ID, "error", err.Error())
	}
}

// Revoke ends the delegation id that grantorID gave (reason revoked), with what
// was issued and passed on under it, and records delegation.revoked. Anyone
// else's delegation, or no such one, is ErrNotFound. Revoking an ended
// delegation changes nothing.
func (s *Service) Revoke(ctx context.Context, grantorID, id string) error {
	d, err := s.Store.Delegations().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (d.GrantorID != grantorID || grantorID == "")) {
		return fmt.Errorf("revoke delegation: %w", ErrNotFound)
	}
	if err != nil {
		return err
	}
	if !d.RevokedAt.IsZero() {
		return nil
	}
	return s.end(ctx, grantorID, "delegation.revoked", id, store.DelegationEndRevoked, s.now())
}

// Decline ends the delegation id given to granteeUserID (reason declined) and
// records delegation.declined. Anyone else's delegation, or no such one, is
// ErrNotFound. Declining an ended delegation changes nothing.
func (s *Service) Decline(ctx context.Context, granteeUserID, id string) error {
	d, err := s.Store.Delegations().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (d.GranteeUserID != granteeUserID || granteeUserID == "")) {
		return fmt.Errorf("decline delegation: %w", ErrNotFound)
	}
	if err != nil {
		return err
	}
	if !d.RevokedAt.IsZero() {
		return nil
	}
	return s.end(ctx, granteeUserID, "delegation.declined", id, store.DelegationEndDeclined, s.now())
}

// end ends id for reason and records action, in one transaction.
func (s *Service) end(ctx context.Context, actor, action, id, reason string, now time.Time) error {
	ri := web.InfoFrom(ctx)
	return s.Store.InTx(ctx, func(tx store.Store) error {
		if err := revoke.Delegation(ctx, tx, id, reason, now, s.AccessTokenTTL); err != nil {
			return err
		}
		return s.Audit.RecordTo(ctx, tx.Audit(), audit.Event{Actor: actor, Action: action, Target: id, IP: ri.IP,
			RequestID: ri.ID, Details: map[string]any{"reason": reason}})
	})
}
