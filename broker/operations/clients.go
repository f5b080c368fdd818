package operations

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
)

// ClientWithSecret is a client and, after a create or rotate-secret, its new
// secret: shown this once, stored only as a hash.
type ClientWithSecret struct {
	Client store.Client
	Secret string
}

// ListClients returns every client.
func (s *Service) ListClients(ctx context.Context) ([]store.Client, error) {
	return s.Store.Clients().List(ctx)
}

// GetClient returns one client; ErrNotFound if there is none.
func (s *Service) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := s.Store.Clients().Get(ctx, id)
	return c, storeErr(err)
}

// CreateClient registers c: a generated ID if it has none, RS256 ID tokens and
// client_secret_basic (none for a public client) unless it says otherwise, and a
// generated secret for the secret methods. Its SecretHash is ignored. It is
// validated completely (validateClient); ErrConflict if its ID is taken. It
// records client.created.
func (s *Service) CreateClient(ctx context.Context, a Actor, c store.Client) (ClientWithSecret, error) {
	now := s.now().UTC()
	c.CreatedAt, c.UpdatedAt, c.SecretHash = now, now, nil
	if c.ID == "" {
		c.ID = registry.NewClientID()
	}
	if c.IDTokenSignedResponseAlg == "" {
		c.IDTokenSignedResponseAlg = keys.RS256 // OIDC Dynamic Client Registration §2
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = registry.AuthSecretBasic
		if c.Public {
			c.TokenEndpointAuthMethod = registry.AuthNone
		}
	}
	var secret string
	if usesSecret(c) {
		secret, c.SecretHash = registry.NewSecret()
	}
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		if err := s.validateClient(ctx, tx, c); err != nil {
			return err
		}
		if err := tx.Clients().Create(ctx, c); err != nil {
			return storeErr(err)
		}
		return s.record(ctx, tx, a, "client.created", c.ID, nil)
	})
	if err != nil {
		return ClientWithSecret{Client: c}, err
	}
	return ClientWithSecret{Client: c, Secret: secret}, nil
}

// UpdateClient replaces the stored client's settings with c's; its secret and
// creation time stay (RotateClientSecret changes the secret). It records
// client.updated.
func (s *Service) UpdateClient(ctx context.Context, a Actor, c store.Client) (store.Client, error) {
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		old, err := tx.Clients().Get(ctx, c.ID)
		if err != nil {
			return storeErr(err)
		}
		c.SecretHash, c.CreatedAt, c.UpdatedAt = old.SecretHash, old.CreatedAt, s.now().UTC()
		if err := s.saveClient(ctx, tx, c); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "client.updated", c.ID, nil)
	})
	return c, err
}

// RotateClientSecret replaces the secret of a client that authenticates with one;
// the old one stops working at once. It records client.secret_rotated.
func (s *Service) RotateClientSecret(ctx context.Context, a Actor, id string) (ClientWithSecret, error) {
	var out ClientWithSecret
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		c, err := tx.Clients().Get(ctx, id)
		if err != nil {
			return storeErr(err)
		}
		out.Client = c
		if !usesSecret(c) {
			return invalid([]string{fmt.Sprintf("client %s does not authenticate with a secret", id)}, nil)
		}
		var secret string
		secret, c.SecretHash = registry.NewSecret()
		c.UpdatedAt = s.now().UTC()
		out.Client = c
		if err := s.saveClient(ctx, tx, c); err != nil {
			return err
		}
		if err := s.record(ctx, tx, a, "client.secret_rotated", c.ID, nil); err != nil {
			return err
		}
		out.Secret = secret
		return nil
	})
	return out, err
}

// DeleteClient removes a client. It records client.deleted.
func (s *Service) DeleteClient(ctx context.Context, a Actor, id string) error {
	return s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.Clients().Delete(ctx, id); err != nil {
			return storeErr(err)
		}
		return s.record(ctx, tx, a, "client.deleted", id, nil)
	})
}

// saveClient validates c and updates it, both through st (the operation's
// transaction).
func (s *Service) saveClient(ctx context.Context, st store.Store, c store.Client) error {
	if err := s.validateClient(ctx, st, c); err != nil {
		return err
	}
	return storeErr(st.Clients().Update(ctx, c))
}

func usesSecret(c store.Client) bool {
	return c.TokenEndpointAuthMethod == registry.AuthSecretBasic || c.TokenEndpointAuthMethod == registry.AuthSecretPost
}

// validateClient reports every problem with c at once: its own
// (registry.ClientProblems), that this server's keys can sign its ID tokens,
// resource-server APIs that are not registered, and exchange providers that are
// not configured.
func (s *Service) validateClient(ctx context.Context, st store.Store, c store.Client) error {
	own := registry.ClientProblems(c)
	var alg []string
	if err := registry.ValidateIDTokenAlg(c, keys.IDTokenAlgorithms(s.SigningAlgorithm)); err != nil {
		alg = []string{err.Error()}
	}
	rs, err := registry.ResourceServerForProblems(ctx, st.APIs(), c)
	if err != nil {
		return err
	}
	xp, err := registry.ExchangeProvidersProblems(ctx, st.Providers(), c)
	if err != nil {
		return err
	}
	// The message keeps the validators' wording: each one's problems on a line.
	var lines []string
	for _, p := range [][]string{own, alg, rs, xp} {
		if len(p) > 0 {
			lines = append(lines, strings.Join(p, "; "))
		}
	}
	var text error
	if len(lines) > 0 {
		text = errors.New(strings.Join(lines, "\n"))
	}
	return invalid(slices.Concat(own, alg, rs, xp), text)
}
