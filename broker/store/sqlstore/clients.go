package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

type clients struct{ db *DB }

const clientColumns = `id, name, logo_uri, secret_hash, is_public, first_party, redirect_uris,
	post_logout_redirect_uris, grant_types, scopes, default_audience, token_endpoint_auth_method, jwks, jwks_uri,
	access_token_ttl_ns, refresh_token_ttl_ns, created_at, updated_at, audiences, id_token_signed_response_alg,
	resource_server_for, exchange_token_types, exchange_providers, version, client_uri, dpop_bound_access_tokens,
	tls_client_auth_subject_dn, tls_client_auth_san_dns, tls_client_auth_san_uri, tls_client_auth_san_ip,
	tls_client_auth_san_email`

func scanClient(s rowScanner) (store.Client, error) {
	var c store.Client
	var accessTTL, refreshTTL int64
	err := s.Scan(&c.ID, &c.Name, &c.LogoURI, bd(&c.SecretHash), &c.Public, &c.FirstParty, ld(&c.RedirectURIs),
		ld(&c.PostLogoutRedirectURIs), ld(&c.GrantTypes), ld(&c.Scopes), &c.DefaultAudience,
		&c.TokenEndpointAuthMethod, bd(&c.JWKS), &c.JWKSURI, &accessTTL, &refreshTTL, tsd(&c.CreatedAt),
		tsd(&c.UpdatedAt), ld(&c.Audiences), &c.IDTokenSignedResponseAlg, ld(&c.ResourceServerFor),
		ld(&c.ExchangeTokenTypes), ld(&c.ExchangeProviders), &c.Version, &c.ClientURI, &c.DPoPBoundAccessTokens,
		&c.TLSClientAuthSubjectDN, &c.TLSClientAuthSANDNS, &c.TLSClientAuthSANURI, &c.TLSClientAuthSANIP, &c.TLSClientAuthSANEmail)
	c.AccessTokenTTL, c.RefreshTokenTTL = time.Duration(accessTTL), time.Duration(refreshTTL)
	return c, err
}

// clientArgs are the values of every column but id, created_at and updated_at, as
// $2…$16.
func clientArgs(c store.Client) []any {
	return []any{c.Name, c.LogoURI, blob(c.SecretHash), c.Public, c.FirstParty,
		jsonList[string](c.RedirectURIs), jsonList[string](c.PostLogoutRedirectURIs),
		jsonList[string](c.GrantTypes), jsonList[string](c.Scopes), c.DefaultAudience,
		c.TokenEndpointAuthMethod, blob(c.JWKS), c.JWKSURI, int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL)}
}

func (s clients) Create(ctx context.Context, c store.Client) error {
	args := append(append([]any{c.ID}, clientArgs(c)...), s.db.ts(c.CreatedAt), s.db.ts(c.UpdatedAt),
		jsonList[string](c.Audiences), c.IDTokenSignedResponseAlg, jsonList[string](c.ResourceServerFor),
		jsonList[string](c.ExchangeTokenTypes), jsonList[string](c.ExchangeProviders), c.ClientURI, c.DPoPBoundAccessTokens,
		c.TLSClientAuthSubjectDN, c.TLSClientAuthSANDNS, c.TLSClientAuthSANURI, c.TLSClientAuthSANIP, c.TLSClientAuthSANEmail)
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, 1, $24,
	$25, $26, $27, $28, $29, $30)`, args...)
	if err != nil {
		return wrap("clients: create", err)
	}
	return nil
}

func (s clients) Get(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(s.db.queryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
	if err != nil {
		return store.Client{}, wrap("clients: get", err)
	}
	return c, nil
}

func (s clients) List(ctx context.Context) ([]store.Client, error) {
	const op = "clients: list"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanClient)
}

// Update changes everything but ID and CreatedAt, and increases the version;
// ErrConflict if c.Version is set and not the stored one (DATA-11), while 0
// writes whatever is stored.
func (s clients) Update(ctx context.Context, c store.Client) error {
	const op = "clients: update"
	args := append(append([]any{c.ID}, clientArgs(c)...), s.db.ts(c.UpdatedAt), jsonList[string](c.Audiences),
		c.IDTokenSignedResponseAlg, jsonList[string](c.ResourceServerFor), jsonList[string](c.ExchangeTokenTypes),
		jsonList[string](c.ExchangeProviders), c.ClientURI, c.DPoPBoundAccessTokens, c.TLSClientAuthSubjectDN, c.TLSClientAuthSANDNS,
		c.TLSClientAuthSANURI, c.TLSClientAuthSANIP, c.TLSClientAuthSANEmail)
	q := `UPDATE clients
SET name = $2, logo_uri = $3, secret_hash = $4, is_public = $5, first_party = $6, redirect_uris = $7,
	post_logout_redirect_uris = $8, grant_types = $9, scopes = $10, default_audience = $11,
	token_endpoint_auth_method = $12, jwks = $13, jwks_uri = $14, access_token_ttl_ns = $15,
	refresh_token_ttl_ns = $16, updated_at = $17, audiences = $18, id_token_signed_response_alg = $19,
	resource_server_for = $20, exchange_token_types = $21, exchange_providers = $22, client_uri = $23,
	dpop_bound_access_tokens = $24,
	tls_client_auth_subject_dn = $25, tls_client_auth_san_dns = $26, tls_client_auth_san_uri = $27,
	tls_client_auth_san_ip = $28, tls_client_auth_san_email = $29, version = version + 1
WHERE id = $1`
	if c.Version != 0 {
		q += ` AND version = $30`
		args = append(args, c.Version)
	}
	n, err := s.db.execCount(ctx, op, q, args...)
	if err != nil || n == 1 {
		return err
	}
	if _, err := s.Get(ctx, c.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: version %d is not current: %w", op, c.Version, store.ErrConflict)
}

func (s clients) Delete(ctx context.Context, id string) error {
	return s.db.execOne(ctx, "clients: delete", `DELETE FROM clients WHERE id = $1`, id)
}

type apis struct{ db *DB }

const apiColumns = `id, audience, name, scopes, delegation, created_at, version`

func scanAPI(s rowScanner) (store.API, error) {
	var a store.API
	err := s.Scan(&a.ID, &a.Audience, &a.Name, ld(&a.Scopes), objectDest[store.DelegationPolicy]{&a.Delegation},
		tsd(&a.CreatedAt), &a.Version)
	if len(a.Delegation.Scopes) == 0 {
		a.Delegation.Scopes = nil // empty lists read back as nil
	}
	return a, err
}

func (s apis) Create(ctx context.Context, a store.API) error {
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO apis (`+apiColumns+`) VALUES ($1, $2, $3, $4, $5, $6, 1)`,
		a.ID, a.Audience, a.Name, jsonList[store.Scope](a.Scopes), jsonObject[store.DelegationPolicy]{a.Delegation},
		s.db.ts(a.CreatedAt))
	if err != nil {
		return wrap("apis: create", err)
	}
	return nil
}

func (s apis) Get(ctx context.Context, id string) (store.API, error) {
	a, err := scanAPI(s.db.sql.QueryRowContext(ctx, `SELECT `+apiColumns+` FROM apis WHERE id = $1`, id))
	if err != nil {
		return store.API{}, wrap("apis: get", err)
	}
	return a, nil
}

func (s apis) GetByAudience(ctx context.Context, audience string) (store.API, error) {
	a, err := scanAPI(s.db.sql.QueryRowContext(ctx, `SELECT `+apiColumns+` FROM apis WHERE audience = $1`, audience))
	if err != nil {
		return store.API{}, wrap("apis: get by audience", err)
	}
	return a, nil
}

func (s apis) List(ctx context.Context) ([]store.API, error) {
	const op = "apis: list"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+apiColumns+` FROM apis ORDER BY id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanAPI)
}

// Update changes everything but ID and CreatedAt; ErrConflict if the audience is
// another API's, or if a.Version is set and not the stored one (DATA-11).
func (s apis) Update(ctx context.Context, a store.API) error {
	const op = "apis: update"
	q := `UPDATE apis SET audience = $2, name = $3, scopes = $4, delegation = $5, version = version + 1 WHERE id = $1`
	args := []any{a.ID, a.Audience, a.Name, jsonList[store.Scope](a.Scopes), jsonObject[store.DelegationPolicy]{a.Delegation}}
	if a.Version != 0 {
		q += ` AND version = $6`
		args = append(args, a.Version)
	}
	n, err := s.db.execCount(ctx, op, q, args...)
	if err != nil || n == 1 {
		return err
	}
	if _, err := s.Get(ctx, a.ID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: version %d is not current: %w", op, a.Version, store.ErrConflict)
}

func (s apis) Delete(ctx context.Context, id string) error {
	return s.db.execOne(ctx, "apis: delete", `DELETE FROM apis WHERE id = $1`, id)
}
