package operations

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

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

// APIUse is a client that names an API, and where: "its default API", "its
// APIs", "the APIs it is the resource server of".
type APIUse struct {
	ClientID, ClientName string
	Where                []string
}

// APIUses are the clients that name the API id, in client ID order.
func (s *Service) APIUses(ctx context.Context, id string) ([]APIUse, error) {
	api, err := s.Store.APIs().Get(ctx, id)
	if err != nil {
		return nil, storeErr(err)
	}
	clients, err := s.Store.Clients().List(ctx)
	if err != nil {
		return nil, err
	}
	uses, _ := unlinkAPI(clients, api.Audience)
	return uses, nil
}

// unlinkAPI finds the clients that name the API with audience aud and returns
// where, with each of them as it is without the API.
func unlinkAPI(clients []store.Client, aud string) (uses []APIUse, unlinked []store.Client) {
	for _, c := range clients {
		u := APIUse{ClientID: c.ID, ClientName: c.Name}
		if c.DefaultAudience == aud {
			c.DefaultAudience = ""
			u.Where = append(u.Where, "its default API")
		}
		if slices.Contains(c.Audiences, aud) {
			c.Audiences = slices.DeleteFunc(slices.Clone(c.Audiences), func(x string) bool { return x == aud })
			u.Where = append(u.Where, "its APIs")
		}
		if slices.Contains(c.ResourceServerFor, aud) {
			c.ResourceServerFor = slices.DeleteFunc(slices.Clone(c.ResourceServerFor), func(x string) bool { return x == aud })
			u.Where = append(u.Where, "the APIs it is the resource server of")
		}
		if len(u.Where) > 0 {
			uses, unlinked = append(uses, u), append(unlinked, c)
		}
	}
	return uses, unlinked
}

// DeleteAPI removes an API. A client that still names it would have its token
// requests for it fail, and would silently regain it if an API with the same
// audience were registered later; so with such clients it is refused
// (ErrConflict naming them, and the uses returned) unless unlink, which first
// removes the API from each of them (each recorded as client.updated). It
// records api.deleted. The uses are what it unlinked or would have to.
func (s *Service) DeleteAPI(ctx context.Context, a Actor, id string, unlink bool) ([]APIUse, error) {
	var uses []APIUse
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		api, err := tx.APIs().Get(ctx, id)
		if err != nil {
			return storeErr(err)
		}
		clients, err := tx.Clients().List(ctx)
		if err != nil {
			return err
		}
		var unlinked []store.Client
		uses, unlinked = unlinkAPI(clients, api.Audience)
		if len(uses) > 0 && !unlink {
			ids := make([]string, len(uses))
			for i, u := range uses {
				ids[i] = u.ClientID
			}
			return &kindError{kind: ErrConflict, msg: fmt.Sprintf("API %s is not deleted: the clients %s use it; change them first, or unlink it from them",
				id, strings.Join(ids, ", "))}
		}
		for _, c := range unlinked {
			old := clients[slices.IndexFunc(clients, func(o store.Client) bool { return o.ID == c.ID })]
			c.UpdatedAt = s.now().UTC()
			if err := storeErr(tx.Clients().Update(ctx, c)); err != nil {
				return err
			}
			if err := s.record(ctx, tx, a, "client.updated", c.ID, map[string]any{"version": c.Version + 1,
				"changes": clientChanges(old, c), "reason": "api " + id + " deleted"}); err != nil {
				return err
			}
		}
		if err := tx.APIs().Delete(ctx, id); err != nil {
			return storeErr(err)
		}
		return s.record(ctx, tx, a, "api.deleted", id, nil)
	})
	return uses, err
}

func validateAPI(api store.API) error {
	return invalidMsgs(registry.APIProblems(api), registry.ValidateAPI(api))
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
