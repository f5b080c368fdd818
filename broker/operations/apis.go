package operations

import (
	"context"
	"fmt"
	"reflect"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
)

// ListAPIs returns every API.
func (s *Service) ListAPIs(ctx context.Context) ([]store.API, error) {
	return s.Store.APIs().List(ctx)
}

// GetAPI returns one API; ErrNotFound if there is none.
func (s *Service) GetAPI(ctx context.Context, id string) (store.API, error) {
	a, err := s.Store.APIs().Get(ctx, id)
	return a, storeErr(err)
}

// CreateAPI registers an API (resource server): a generated ID if it has none,
// validated (registry.APIProblems), ErrConflict if its ID or audience is taken.
// It records api.created.
func (s *Service) CreateAPI(ctx context.Context, a Actor, api store.API) (store.API, error) {
	if api.ID == "" {
		api.ID = registry.NewClientID()
	}
	api.CreatedAt, api.Version = s.now().UTC(), 1
	if err := validateAPI(api); err != nil {
		return api, err
	}
	return api, s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.APIs().Create(ctx, api); err != nil {
			return storeErr(err)
		}
		return s.record(ctx, tx, a, "api.created", api.ID, map[string]any{"audience": api.Audience})
	})
}

// UpdateAPI replaces the stored API with api's audience, name, scopes and
// delegation policy. With api.Version set, ErrConflict unless it is the stored
// version (DATA-11: a concurrent edit won); the API returned carries the new
// version. It records api.updated with what changed, old and new (ADM-16).
func (s *Service) UpdateAPI(ctx context.Context, a Actor, api store.API) (store.API, error) {
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		old, err := tx.APIs().Get(ctx, api.ID)
		if err != nil {
			return storeErr(err)
		}
		api.CreatedAt = old.CreatedAt
		if api.Version != 0 && api.Version != old.Version {
			return &kindError{kind: ErrConflict, msg: fmt.Sprintf("API %q was changed meanwhile (version %d, not %d)", api.ID, old.Version, api.Version), err: store.ErrConflict}
		}
		if err := validateAPI(api); err != nil {
			return err
		}
		api.Version = old.Version
		if err := tx.APIs().Update(ctx, api); err != nil {
			return storeErr(err)
		}
		api.Version++
		return s.record(ctx, tx, a, "api.updated", api.ID, map[string]any{"audience": api.Audience,
			"version": api.Version, "changes": apiChanges(old, api)})
	})
	return api, err
}

// DeleteAPI removes an API. It records api.deleted.
func (s *Service) DeleteAPI(ctx context.Context, a Actor, id string) error {
	return s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.APIs().Delete(ctx, id); err != nil {
			return storeErr(err)
		}
		return s.record(ctx, tx, a, "api.deleted", id, nil)
	})
}

func validateAPI(api store.API) error {
	return invalid(registry.APIProblems(api), registry.ValidateAPI(api))
}

// apiChanges is each changed field of an API as {"old": …, "new": …} (an API
// holds no secret to mask).
func apiChanges(old, cur store.API) map[string]any {
	out := map[string]any{}
	add := func(field string, o, n any) {
		if !reflect.DeepEqual(o, n) {
			out[field] = map[string]any{"old": o, "new": n}
		}
	}
	add("name", old.Name, cur.Name)
	add("audience", old.Audience, cur.Audience)
	add("scopes", old.Scopes, cur.Scopes)
	add("delegation", old.Delegation, cur.Delegation)
	return out
}
