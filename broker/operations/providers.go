package operations

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// ProviderRef names a provider to change. Version, if not zero, is the version
// the admin last saw: the change is refused with ErrConflict if the stored one
// differs (another admin changed it meanwhile).
type ProviderRef struct {
	ID      string
	Version int64
}

// ProviderChange is a provider after a change, and what its cut-off ended if the
// change disabled or removed it.
type ProviderChange struct {
	Provider store.ProviderConfig
	Created  bool
	// CutOff is set when the change ended the provider's sessions.
	CutOff *CutOffResult
}

// ListProviders returns every provider.
func (s *Service) ListProviders(ctx context.Context) ([]store.ProviderConfig, error) {
	return s.Store.Providers().List(ctx)
}

// GetProvider returns one provider; ErrNotFound if there is none.
func (s *Service) GetProvider(ctx context.Context, id string) (store.ProviderConfig, error) {
	return getProvider(ctx, s.Store, id)
}

func getProvider(ctx context.Context, st store.Store, id string) (store.ProviderConfig, error) {
	p, err := st.Providers().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return p, notFoundMsg(templates.M("no provider %q", id), err)
	}
	return p, err
}

// UpsertProvider adds the provider spec describes, or updates the one with its
// ID (upstream.Upsert: checked, built once, then stored under optimistic
// locking). A provider the spec leaves disabled is cut off as DisableProvider
// does. It records provider.added or provider.updated (nothing if the update
// changed nothing), and provider.disabled for a cut-off. The writes are one
// transaction; the checking, and the fetch of a SAML metadata URL, come before
// it (upstream.Prepare), so the transaction never waits on the network. An
// update may change the role rules or the claim mapping, and so take from
// people a scope they delegated: the delegations of everyone with an identity
// at the provider are re-checked in the same transaction (recheckGrantors).
func (s *Service) UpsertProvider(ctx context.Context, a Actor, spec upstream.Spec) (ProviderChange, error) {
	return s.upsertProvider(ctx, a, spec, nil)
}

// CreateProvider adds the provider spec describes; ErrConflict if its ID is
// taken (the admin console and API: a create must not overwrite).
func (s *Service) CreateProvider(ctx context.Context, a Actor, spec upstream.Spec) (ProviderChange, error) {
	return s.upsertProvider(ctx, a, spec, func(old store.ProviderConfig, created bool) error {
		if !created {
			return conflict(templates.M("a provider %q exists already", spec.ID))
		}
		return nil
	})
}

// UpdateProvider updates the provider spec names from the version the admin
// read (SECURITY.md DATA-11): ErrConflict if the stored one differs, now or
// when it is saved (the store compares versions), ErrNotFound if it is gone.
func (s *Service) UpdateProvider(ctx context.Context, a Actor, spec upstream.Spec, version int64) (ProviderChange, error) {
	return s.upsertProvider(ctx, a, spec, func(old store.ProviderConfig, created bool) error {
		switch {
		case created:
			return notFoundMsg(templates.M("no provider %q", spec.ID), store.ErrNotFound)
		case old.Version != version:
			return versionConflict(old.ID, old.Version, version)
		}
		return nil
	})
}

// upsertProvider is UpsertProvider with expect, if set, checking the stored
// provider Prepare read before anything is written.
func (s *Service) upsertProvider(ctx context.Context, a Actor, spec upstream.Spec, expect func(old store.ProviderConfig, created bool) error) (ProviderChange, error) {
	var ch ProviderChange
	if expect != nil {
		// Checked before Prepare too, so that a stale edit fetches nothing.
		old, err := s.Store.Providers().Get(ctx, spec.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return ch, err
		}
		if err := expect(old, err != nil); err != nil {
			return ch, err
		}
	}
	prep, err := upstream.Prepare(ctx, s.Store, s.Upstream, spec)
	if err != nil {
		return ch, providerErr(err)
	}
	old, created := prep.Previous()
	if expect != nil {
		if err := expect(old, created); err != nil {
			return ch, err
		}
	}
	before := old.Version
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		p, created, err := prep.Save(ctx, tx, s.Upstream)
		if err != nil {
			return providerErr(err)
		}
		ch = ProviderChange{Provider: p, Created: created}
		switch {
		case created:
			err = s.record(ctx, tx, a, "provider.added", p.ID, map[string]any{"version": p.Version, "kind": p.Kind})
		case p.Version != before:
			err = s.record(ctx, tx, a, "provider.updated", p.ID, map[string]any{"version": p.Version})
			if err == nil {
				// A new provider has no identities, and an unchanged one
				// changed nobody's roles.
				err = s.recheckGrantors(ctx, tx, p.ID, nil)
			}
		}
		if err != nil || p.Enabled {
			return err
		}
		// A file may say "enabled": false: as providers disable.
		c, err := s.cutOffProvider(ctx, tx, a, p.ID, "provider.disabled")
		ch.CutOff = &c
		return err
	})
	return ch, err
}

// recheckGrantors re-checks, in the operation's transaction tx, the
// delegations of every person with an identity at providerID (or, for a
// provider whose identities are gone, of the people in grantors) who gave one
// still active: the provider's role rules, claim mapping or state changed, and
// roles come from them (upstream.UserRoles), so what such a person delegated
// may no longer be theirs to give. Ending or narrowing those at once is issue
// 11's "Revocation is immediate". It runs in the transaction rather than after
// the commit so that the change and what it ends commit together, as a
// cut-off does: no crash between them leaves tokens carrying a scope whose
// role rule is gone. Every update re-checks (Recheck acts only on a real loss);
// picking out the role-changing ones would be one more place to keep in step
// with upstream.UserRoles.
func (s *Service) recheckGrantors(ctx context.Context, tx store.Store, providerID string, grantors []string) error {
	if grantors == nil {
		var err error
		if grantors, err = tx.Delegations().GrantorsAt(ctx, providerID, s.now()); err != nil {
			return err
		}
	}
	if len(grantors) == 0 {
		return nil
	}
	if s.Delegations == nil {
		return errors.New("operations: the provider change must re-check delegations, and Delegations is not set")
	}
	rules := s.Delegations.Over(tx)
	// The operations' clock, and what it ends stays revoked as long as their
	// other revocations.
	rules.Now, rules.AccessTokenTTL = s.now, s.AccessTokenTTL
	for _, g := range grantors {
		if err := rules.Recheck(ctx, g); err != nil {
			return fmt.Errorf("re-check the delegations of %s: %w", g, err)
		}
	}
	return nil
}

// versionConflict refuses a change of provider id made from version read
// while it is at version now.
func versionConflict(id string, now, read int64) error {
	return conflict(templates.M("provider %[1]s is at version %[2]s, not %[3]s: it changed meanwhile", id,
		strconv.FormatInt(now, 10), strconv.FormatInt(read, 10)))
}

// providerErr turns upstream's configuration errors into *Invalid, with their
// messages (upstream.Messages), and the store's sentinels into the typed errors.
func providerErr(err error) error {
	if !errors.Is(err, providers.ErrConfig) {
		return storeErr(err)
	}
	return invalidMsgs(upstream.Messages(err), err)
}

// EnableProvider lets people sign in with the provider again; what a disable
// ended stays ended. It records provider.enabled.
func (s *Service) EnableProvider(ctx context.Context, a Actor, ref ProviderRef) (ProviderChange, error) {
	var ch ProviderChange
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		p, err := s.setEnabled(ctx, tx, ref, true)
		if err != nil {
			return err
		}
		ch.Provider = p
		return s.record(ctx, tx, a, "provider.enabled", p.ID, map[string]any{"version": p.Version})
	})
	return ch, err
}

// DisableProvider stops sign-ins with the provider and ends every session
// signed in with it and revokes what was issued under them, at once and on every
// replica (revoke.CutOff). It records provider.disabled with what it ended. The
// disable, the cut-off and the event are one transaction: a crash leaves either
// none of them or all.
func (s *Service) DisableProvider(ctx context.Context, a Actor, ref ProviderRef) (ProviderChange, error) {
	var ch ProviderChange
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		p, err := s.setEnabled(ctx, tx, ref, false)
		if err != nil {
			return err
		}
		c, err := s.cutOffProvider(ctx, tx, a, p.ID, "provider.disabled")
		ch = ProviderChange{Provider: p, CutOff: &c}
		if err != nil {
			return err
		}
		// Roles came from the provider too (upstream.UserRoles skips a disabled one).
		return s.recheckGrantors(ctx, tx, p.ID, nil)
	})
	return ch, err
}

// setEnabled stores the provider switched on or off; the store refuses it with
// ErrConflict if its version moved since it was read.
func (s *Service) setEnabled(ctx context.Context, st store.Store, ref ProviderRef, enabled bool) (store.ProviderConfig, error) {
	p, err := providerAt(ctx, st, ref)
	if err != nil {
		return p, err
	}
	p.Enabled, p.UpdatedAt = enabled, s.now()
	if err := st.Providers().Update(ctx, p); err != nil {
		return p, storeErr(err)
	}
	p.Version++
	return p, nil
}

// RemoveProvider deletes the provider and the identities linked at it (their
// users keep their accounts), and cuts it off as DisableProvider does, in one
// transaction. It records provider.removed.
func (s *Service) RemoveProvider(ctx context.Context, a Actor, ref ProviderRef) (ProviderChange, error) {
	var ch ProviderChange
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		p, err := providerAt(ctx, tx, ref)
		if err != nil {
			return err
		}
		ch.Provider = p
		// Its identities go with it: who had one is read first.
		grantors, err := tx.Delegations().GrantorsAt(ctx, p.ID, s.now())
		if err != nil {
			return err
		}
		// The store's Delete takes no version: between this check and the delete
		// another edit could land, and the removal wins, as an admin removing it meant.
		if err := tx.Providers().Delete(ctx, p.ID); err != nil {
			return storeErr(err)
		}
		if err := s.forgetExchangeProvider(ctx, tx, a, p.ID); err != nil {
			return err
		}
		c, err := s.cutOffProvider(ctx, tx, a, p.ID, "provider.removed")
		ch.CutOff = &c
		if err != nil {
			return err
		}
		return s.recheckGrantors(ctx, tx, p.ID, grantors)
	})
	return ch, err
}

// forgetExchangeProvider takes a removed provider off every client's list of
// providers whose tokens it may exchange: a provider created later under the same
// ID is another organisation's, which no client was allowed to speak for.
func (s *Service) forgetExchangeProvider(ctx context.Context, st store.Store, a Actor, id string) error {
	clients, err := st.Clients().List(ctx)
	if err != nil {
		return err
	}
	for _, c := range clients {
		if !slices.Contains(c.ExchangeProviders, id) {
			continue
		}
		c.ExchangeProviders = slices.DeleteFunc(c.ExchangeProviders, func(p string) bool { return p == id })
		c.UpdatedAt = s.now().UTC()
		if err := st.Clients().Update(ctx, c); err != nil {
			return storeErr(err)
		}
		if err := s.record(ctx, st, a, "client.updated", c.ID, map[string]any{"exchange_provider_removed": id}); err != nil {
			return err
		}
	}
	return nil
}

// providerAt reads the provider ref names, at ref.Version if one is given.
func providerAt(ctx context.Context, st store.Store, ref ProviderRef) (store.ProviderConfig, error) {
	p, err := getProvider(ctx, st, ref.ID)
	if err != nil {
		return p, err
	}
	if ref.Version != 0 && ref.Version != p.Version {
		return p, versionConflict(p.ID, p.Version, ref.Version)
	}
	return p, nil
}

// cutOffProvider ends, in the transaction st that disabled or removed the
// provider, every session signed in with it and revokes what was issued under
// them, and records action.
func (s *Service) cutOffProvider(ctx context.Context, st store.Store, a Actor, id, action string) (CutOffResult, error) {
	sessions, refresh, err := revoke.CutOff(ctx, st, revoke.Target{ProviderID: id}, s.now(), s.AccessTokenTTL)
	c := CutOffResult{Sessions: sessions, RefreshTokens: refresh}
	if err != nil {
		return c, err
	}
	return c, s.record(ctx, st, a, action, id, c.details())
}
