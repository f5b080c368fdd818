package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/broker/store"
)

type providers struct{ db *DB }

const providerColumns = `id, kind, name, domains, enabled, trust_email_linking, settings, secrets_enc, version,
	created_at, updated_at`

func scanProvider(s rowScanner) (store.ProviderConfig, error) {
	var p store.ProviderConfig
	err := s.Scan(&p.ID, &p.Kind, &p.Name, ld(&p.Domains), &p.Enabled, &p.TrustEmailLinking, bd(&p.Settings),
		bd(&p.SecretsEnc), &p.Version, tsd(&p.CreatedAt), tsd(&p.UpdatedAt))
	return p, err
}

func (s providers) Create(ctx context.Context, p store.ProviderConfig) error {
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO providers (`+providerColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10)`,
		p.ID, p.Kind, p.Name, jsonList[string](p.Domains), p.Enabled, p.TrustEmailLinking, blob(p.Settings),
		blob(p.SecretsEnc), s.db.ts(p.CreatedAt), s.db.ts(p.UpdatedAt))
	if err != nil {
		return wrap("providers: create", err)
	}
	return nil
}

func (s providers) Get(ctx context.Context, id string) (store.ProviderConfig, error) {
	p, err := scanProvider(s.db.queryRow(ctx, `SELECT `+providerColumns+` FROM providers WHERE id = $1`, id))
	if err != nil {
		return store.ProviderConfig{}, wrap("providers: get", err)
	}
	return p, nil
}

func (s providers) List(ctx context.Context) ([]store.ProviderConfig, error) {
	const op = "providers: list"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+providerColumns+` FROM providers ORDER BY id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanProvider)
}

// Update changes everything but ID and CreatedAt. The version check is part of the
// UPDATE, so of two concurrent edits of one version exactly one matches a row.
func (s providers) Update(ctx context.Context, p store.ProviderConfig) error {
	const op = "providers: update"
	n, err := s.db.execCount(ctx, op, `UPDATE providers
SET kind = $3, name = $4, domains = $5, enabled = $6, trust_email_linking = $7, settings = $8, secrets_enc = $9,
	updated_at = $10, version = version + 1
WHERE id = $1 AND version = $2`,
		p.ID, p.Version, p.Kind, p.Name, jsonList[string](p.Domains), p.Enabled, p.TrustEmailLinking,
		blob(p.Settings), blob(p.SecretsEnc), s.db.ts(p.UpdatedAt))
	if err != nil || n == 1 {
		return err
	}
	var one int
	err = s.db.sql.QueryRowContext(ctx, `SELECT 1 FROM providers WHERE id = $1`, p.ID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return wrap(op, err)
	}
	return fmt.Errorf("%s: version %d is not current: %w", op, p.Version, store.ErrConflict)
}

func (s providers) Delete(ctx context.Context, id string) error {
	const op = "providers: delete"
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM providers WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM identities WHERE provider_id = $1`, id)
		return err
	})
	if err != nil {
		return wrap(op, err)
	}
	return nil
}
