package operations

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"
)

// UserDetail is a user and the upstream identities linked to it.
type UserDetail struct {
	User       store.User
	Identities []store.Identity
}

// UserChange is a user after a change, and what its cut-off ended (disable,
// sign-out).
type UserChange struct {
	User   store.User
	CutOff *CutOffResult
}

// ListUsers returns every user, or those whose email is email (canonical form),
// with their identities.
func (s *Service) ListUsers(ctx context.Context, email string) ([]UserDetail, error) {
	var us []store.User
	var err error
	if email != "" {
		us, err = s.Store.Users().FindByEmail(ctx, email)
	} else {
		us, err = s.Store.Users().List(ctx)
	}
	if err != nil {
		return nil, err
	}
	return s.withIdentities(ctx, us)
}

// FindUsers returns the users an admin named by email (several may share one)
// or by ID, with their identities; ErrNotFound if none.
func (s *Service) FindUsers(ctx context.Context, emailOrID string) ([]UserDetail, error) {
	var us []store.User
	var err error
	if strings.Contains(emailOrID, "@") {
		if us, err = s.Store.Users().FindByEmail(ctx, emailOrID); err != nil {
			return nil, err
		}
	} else if u, err := s.Store.Users().Get(ctx, emailOrID); err == nil {
		us = []store.User{u}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if len(us) == 0 {
		return nil, notFound(fmt.Sprintf("no user %q", emailOrID), store.ErrNotFound)
	}
	return s.withIdentities(ctx, us)
}

func (s *Service) withIdentities(ctx context.Context, us []store.User) ([]UserDetail, error) {
	out := make([]UserDetail, 0, len(us))
	for _, u := range us {
		ids, err := s.Store.Identities().ListForUser(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, UserDetail{User: u, Identities: ids})
	}
	return out, nil
}

// DisableUser stops the user signing in, then ends their sessions and revokes
// every refresh and access token issued to them, at once and on every replica,
// and ends every delegation they gave or received (revoke.UserDelegations).
// Disabling is stored before the cut-off runs, so no sign-in or token request
// started meanwhile outlives it (revoke.CutOff). Disabling the last admin is
// refused with ErrLastAdmin, as revoking their role is. It records user.disabled.
func (s *Service) DisableUser(ctx context.Context, a Actor, id string) (UserChange, error) {
	return s.changeUser(ctx, a, id, "user.disabled")
}

// EnableUser lets the user sign in again; what a disable ended stays ended. It
// records user.enabled.
func (s *Service) EnableUser(ctx context.Context, a Actor, id string) (UserChange, error) {
	return s.changeUser(ctx, a, id, "user.enabled")
}

// SignOutUser ends every session of the user and revokes their tokens as
// DisableUser does; the user stays enabled. It records user.signed_out.
func (s *Service) SignOutUser(ctx context.Context, a Actor, id string) (UserChange, error) {
	return s.changeUser(ctx, a, id, "user.signed_out")
}

// changeUser stores the user's change, its cut-off and its event in one
// transaction.
func (s *Service) changeUser(ctx context.Context, a Actor, id, action string) (UserChange, error) {
	var ch UserChange
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		u, err := tx.Users().Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(fmt.Sprintf("no user %q", id), err)
		}
		if err != nil {
			return err
		}
		if action != "user.signed_out" {
			u.Disabled, u.UpdatedAt = action == "user.disabled", s.now()
			if err := tx.Users().Update(ctx, u); err != nil {
				ch.User = u
				return storeErr(err)
			}
			if action == "user.disabled" {
				if err := lastAdmin(ctx, tx, u.ID); err != nil {
					return err
				}
			}
		}
		ch.User = u
		details := map[string]any{}
		if action != "user.enabled" {
			sessions, refresh, err := revoke.CutOff(ctx, tx, revoke.Target{UserID: u.ID}, s.now(), s.AccessTokenTTL)
			ch.CutOff = &CutOffResult{Sessions: sessions, RefreshTokens: refresh}
			if err != nil {
				return err
			}
			if action == "user.disabled" {
				// Delegations end with a disabled grantor or grantee, not with a
				// sign-out: a delegation outlives its parties' sessions.
				n, err := revoke.UserDelegations(ctx, tx, u.ID, s.now(), s.AccessTokenTTL)
				ch.CutOff.Delegations = n
				if err != nil {
					return err
				}
			}
			details = ch.CutOff.details()
		}
		return s.record(ctx, tx, a, action, u.ID, details)
	})
	return ch, err
}

// lastAdmin refuses a change, made in tx, that leaves no admin (Admins) when
// userID was one: a disabled admin is no admin, so disabling the last one locks
// everyone out of the console as surely as revoking their role (issue 12).
func lastAdmin(ctx context.Context, tx store.Store, userID string) error {
	grants, err := tx.Roles().ListForUser(ctx, userID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(grants, func(g store.RoleGrant) bool { return g.Role == store.RoleAdmin }) {
		return nil
	}
	left, err := admins(ctx, tx)
	if err != nil {
		return err
	}
	if len(left) == 0 {
		return &kindError{kind: ErrConflict, msg: ErrLastAdmin.Error(), err: ErrLastAdmin}
	}
	return nil
}
