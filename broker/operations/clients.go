package operations

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/templates"
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
	c.CreatedAt, c.UpdatedAt, c.SecretHash, c.Version = now, now, nil, 1
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
		if err := s.validateClient(ctx, tx, c, nil); err != nil {
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
// creation time stay (RotateClientSecret changes the secret). With c.Version
// set, ErrConflict unless it is the stored version (DATA-11: a concurrent edit
// or secret rotation won); the client returned carries the new version. It
// records client.updated with what changed, old and new (ADM-16).
func (s *Service) UpdateClient(ctx context.Context, a Actor, c store.Client) (store.Client, error) {
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		old, err := tx.Clients().Get(ctx, c.ID)
		if err != nil {
			return storeErr(err)
		}
		if c.Version != 0 && c.Version != old.Version {
			return &kindError{kind: ErrConflict, msg: fmt.Sprintf("client %q was changed meanwhile (version %d, not %d)", c.ID, old.Version, c.Version), err: store.ErrConflict}
		}
		c.SecretHash, c.CreatedAt, c.UpdatedAt, c.Version = old.SecretHash, old.CreatedAt, s.now().UTC(), old.Version
		if err := s.saveClient(ctx, tx, c, &old); err != nil {
			return err
		}
		c.Version++
		return s.record(ctx, tx, a, "client.updated", c.ID, map[string]any{"version": c.Version, "changes": clientChanges(old, c)})
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
		old := c
		if !usesSecret(c) {
			return invalid([]string{fmt.Sprintf("client %s does not authenticate with a secret", id)}, nil)
		}
		var secret string
		secret, c.SecretHash = registry.NewSecret()
		c.UpdatedAt = s.now().UTC()
		if err := s.saveClient(ctx, tx, c, &old); err != nil {
			return err
		}
		c.Version++
		out.Client = c
		if err := s.record(ctx, tx, a, "client.secret_rotated", c.ID, nil); err != nil {
			return err
		}
		out.Secret = secret
		return nil
	})
	return out, err
}

// DeleteClient removes a client and, in the same transaction, revokes every
// refresh token it holds and every access token issued to it (revoke.Tokens:
// a "client:" revocation entry, which introspection and the Admin API consult
// on every replica): a deleted app's tokens stop working at once, rather than
// when they expire. It deletes the consents people gave it too. A client
// registered later under the same ID inherits neither. It records
// client.deleted with how many refresh tokens it revoked and consents it
// deleted.
func (s *Service) DeleteClient(ctx context.Context, a Actor, id string) error {
	return s.Store.InTx(ctx, func(tx store.Store) error {
		c, err := tx.Clients().Get(ctx, id)
		if err != nil {
			return storeErr(err)
		}
		if err := tx.Clients().Delete(ctx, id); err != nil {
			return storeErr(err)
		}
		// The entry must outlive the longest-lived access token of the client.
		n, err := revoke.Tokens(ctx, tx, store.RefreshFilter{ClientID: id}, s.now().UTC(), max(s.AccessTokenTTL, c.AccessTokenTTL))
		if err != nil {
			return err
		}
		consents, err := tx.Consents().DeleteForClient(ctx, id)
		if err != nil {
			return err
		}
		delegations, err := revoke.ClientDelegations(ctx, tx, id, s.now().UTC(), s.AccessTokenTTL)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, a, "client.deleted", id, map[string]any{"refresh_tokens_revoked": n, "consents_deleted": consents,
			"delegations_ended": delegations})
	})
}

// saveClient validates c as a change of old and updates it, both through st
// (the operation's transaction).
func (s *Service) saveClient(ctx context.Context, st store.Store, c store.Client, old *store.Client) error {
	if err := s.validateClient(ctx, st, c, old); err != nil {
		return err
	}
	return storeErr(st.Clients().Update(ctx, c))
}

// clientChanges is each changed setting of a client as {"old": …, "new": …};
// the secret is never one of them (ADM-12: RotateClientSecret records only
// that it rotated).
func clientChanges(old, cur store.Client) map[string]any {
	out := map[string]any{}
	add := func(field string, o, n any) {
		if !reflect.DeepEqual(o, n) {
			out[field] = map[string]any{"old": o, "new": n}
		}
	}
	add("name", old.Name, cur.Name)
	add("logo_uri", old.LogoURI, cur.LogoURI)
	add("client_uri", old.ClientURI, cur.ClientURI)
	add("public", old.Public, cur.Public)
	add("first_party", old.FirstParty, cur.FirstParty)
	add("dpop_bound_access_tokens", old.DPoPBoundAccessTokens, cur.DPoPBoundAccessTokens)
	add("redirect_uris", old.RedirectURIs, cur.RedirectURIs)
	add("post_logout_redirect_uris", old.PostLogoutRedirectURIs, cur.PostLogoutRedirectURIs)
	add("grant_types", old.GrantTypes, cur.GrantTypes)
	add("scopes", old.Scopes, cur.Scopes)
	add("default_api", old.DefaultAudience, cur.DefaultAudience)
	add("apis", old.Audiences, cur.Audiences)
	add("token_endpoint_auth_method", old.TokenEndpointAuthMethod, cur.TokenEndpointAuthMethod)
	add("jwks", string(old.JWKS), string(cur.JWKS))
	add("jwks_uri", old.JWKSURI, cur.JWKSURI)
	add("tls_client_auth_subject_dn", old.TLSClientAuthSubjectDN, cur.TLSClientAuthSubjectDN)
	add("tls_client_auth_san_dns", old.TLSClientAuthSANDNS, cur.TLSClientAuthSANDNS)
	add("tls_client_auth_san_uri", old.TLSClientAuthSANURI, cur.TLSClientAuthSANURI)
	add("tls_client_auth_san_ip", old.TLSClientAuthSANIP, cur.TLSClientAuthSANIP)
	add("tls_client_auth_san_email", old.TLSClientAuthSANEmail, cur.TLSClientAuthSANEmail)
	add("access_token_ttl", old.AccessTokenTTL.String(), cur.AccessTokenTTL.String())
	add("refresh_token_ttl", old.RefreshTokenTTL.String(), cur.RefreshTokenTTL.String())
	add("id_token_signed_response_alg", old.IDTokenSignedResponseAlg, cur.IDTokenSignedResponseAlg)
	add("resource_server_for", old.ResourceServerFor, cur.ResourceServerFor)
	add("exchange_token_types", old.ExchangeTokenTypes, cur.ExchangeTokenTypes)
	add("exchange_providers", old.ExchangeProviders, cur.ExchangeProviders)
	return out
}

func usesSecret(c store.Client) bool {
	return c.TokenEndpointAuthMethod == registry.AuthSecretBasic || c.TokenEndpointAuthMethod == registry.AuthSecretPost
}

// validateClient reports every problem with c at once: its own
// (registry.ClientProblems), that this server's keys can sign its ID tokens,
// APIs and scopes that are not registered (apiReferenceProblems), resource-server
// APIs that are not registered, and exchange providers that are not configured.
// old is the stored client c changes, nil when c is new.
func (s *Service) validateClient(ctx context.Context, st store.Store, c store.Client, old *store.Client) error {
	own := registry.ClientProblems(c)
	var alg []templates.Msg
	if err := registry.ValidateIDTokenAlg(c, keys.IDTokenAlgorithms(s.SigningAlgorithm)); err != nil {
		alg = []templates.Msg{registry.ProblemMsg(err)}
	}
	refs, err := apiReferenceProblems(ctx, st.APIs(), c, old)
	if err != nil {
		return err
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
	for _, p := range [][]templates.Msg{own, alg, refs, rs, xp} {
		if len(p) > 0 {
			lines = append(lines, strings.Join(templates.English(p), "; "))
		}
	}
	var text error
	if len(lines) > 0 {
		text = errors.New(strings.Join(lines, "\n"))
	}
	return invalidMsgs(slices.Concat(own, alg, refs, rs, xp), text)
}

// apiReferenceProblems are the APIs and scopes c names that are not registered,
// which would make every token request for them fail: its default API and other
// APIs must be registered APIs, and each scope an OpenID Connect scope (OIDC Core
// §5.4, offline_access §11) or a scope of one of its APIs. Of a change (old set)
// only what it adds is checked, so an edit of something else is not refused for
// a reference that was already there.
func apiReferenceProblems(ctx context.Context, apis store.APIs, c store.Client, old *store.Client) ([]templates.Msg, error) {
	var problems []templates.Msg
	var names []string
	known := slices.Clone(token.IdentityScopes)
	var oldAPIs, oldScopes []string
	if old != nil {
		oldAPIs, oldScopes = append([]string{old.DefaultAudience}, old.Audiences...), old.Scopes
	}
	for _, aud := range append([]string{c.DefaultAudience}, c.Audiences...) {
		if aud == "" || slices.Contains(names, aud) {
			continue
		}
		a, err := apis.GetByAudience(ctx, aud)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if !slices.Contains(oldAPIs, aud) {
				problems = append(problems, templates.M("%q is not a registered API: register it first (the list of APIs shows those registered)", aud))
			}
			continue
		case err != nil:
			return nil, fmt.Errorf("validate APIs: %w", err)
		}
		names = append(names, aud)
		for _, sc := range a.Scopes {
			known = append(known, sc.Name)
		}
	}
	for _, sc := range c.Scopes {
		if slices.Contains(known, sc) || slices.Contains(oldScopes, sc) {
			continue
		}
		oidc := strings.Join(token.IdentityScopes, ", ")
		if len(names) == 0 {
			problems = append(problems, templates.M("scope %q is neither an OpenID Connect scope (%s) it has no API", sc, oidc))
		} else {
			problems = append(problems, templates.M("scope %q is neither an OpenID Connect scope (%s) nor of its APIs (%s)", sc, oidc, strings.Join(names, ", ")))
		}
	}
	return problems, nil
}
