package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

type securityKeys struct{ db *DB }

const securityKeyColumns = `id, user_id, credential_id, public_key, attestation_format, aaguid, sign_count, transports,
	attachment, backup_eligible, backup_state, user_verified, name, created_at, last_used_at, clone_warning`

func scanSecurityKey(s rowScanner) (store.SecurityKey, error) {
	var k store.SecurityKey
	var count int64
	err := s.Scan(&k.ID, &k.UserID, bd(&k.CredentialID), bd(&k.PublicKey), &k.AttestationFormat, bd(&k.AAGUID), &count,
		ld(&k.Transports), &k.Attachment, &k.BackupEligible, &k.BackupState, &k.UserVerified, &k.Name,
		tsd(&k.CreatedAt), tsd(&k.LastUsedAt), &k.CloneWarning)
	k.SignCount = uint32(count)
	return k, err
}

func (s securityKeys) Create(ctx context.Context, k store.SecurityKey) error {
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO webauthn_credentials (`+securityKeyColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		k.ID, k.UserID, k.CredentialID, k.PublicKey, k.AttestationFormat, blob(k.AAGUID), int64(k.SignCount),
		jsonList[string](k.Transports), k.Attachment, k.BackupEligible, k.BackupState, k.UserVerified, k.Name,
		s.db.ts(k.CreatedAt), s.db.ts(k.LastUsedAt), k.CloneWarning)
	if err != nil {
		return wrap("security keys: create", err)
	}
	return nil
}

func (s securityKeys) ListForUser(ctx context.Context, userID string) ([]store.SecurityKey, error) {
	const op = "security keys: list for user"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+securityKeyColumns+` FROM webauthn_credentials
WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanSecurityKey)
}

func (s securityKeys) GetByCredentialID(ctx context.Context, credentialID []byte) (store.SecurityKey, error) {
	k, err := scanSecurityKey(s.db.sql.QueryRowContext(ctx, `SELECT `+securityKeyColumns+` FROM webauthn_credentials
WHERE credential_id = $1`, credentialID))
	if err != nil {
		return store.SecurityKey{}, wrap("security keys: get by credential ID", err)
	}
	return k, nil
}

func (s securityKeys) RecordUse(ctx context.Context, id string, prevCount, count uint32, backupState bool, at time.Time) error {
	const op = "security keys: record use"
	n, err := s.db.execCount(ctx, op, `UPDATE webauthn_credentials SET sign_count = $3, backup_state = $4, last_used_at = $5
WHERE id = $1 AND sign_count = $2 AND NOT clone_warning`, id, int64(prevCount), int64(count), backupState, s.db.ts(at))
	if err != nil {
		return err
	}
	if n == 0 {
		return wrap(op, store.ErrConflict)
	}
	return nil
}

func (s securityKeys) FlagClone(ctx context.Context, id string) error {
	return s.db.execOne(ctx, "security keys: flag clone", `UPDATE webauthn_credentials SET clone_warning = TRUE WHERE id = $1`, id)
}

func (s securityKeys) Rename(ctx context.Context, userID, id, name string) error {
	return s.db.execOne(ctx, "security keys: rename", `UPDATE webauthn_credentials SET name = $3 WHERE id = $1 AND user_id = $2`,
		id, userID, name)
}

func (s securityKeys) Delete(ctx context.Context, userID, id string, keepOne bool) error {
	const op = "security keys: delete"
	return s.db.InTx(ctx, func(tx store.Store) error {
		db := tx.(*DB)
		// Lock the user's keys: two removals of their last two keys in
		// concurrent transactions then run one after the other.
		rows, err := db.sql.QueryContext(ctx, `SELECT id FROM webauthn_credentials WHERE user_id = $1`+db.dialect.forUpdate, userID)
		if err != nil {
			return wrap(op, err)
		}
		var ids []string
		for rows.Next() {
			var x string
			if err := rows.Scan(&x); err != nil {
				rows.Close()
				return wrap(op, err)
			}
			ids = append(ids, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return wrap(op, err)
		}
		found := false
		for _, x := range ids {
			found = found || x == id
		}
		if !found {
			return wrap(op, store.ErrNotFound)
		}
		if keepOne && len(ids) == 1 {
			return wrap(op, store.ErrConflict)
		}
		return db.execOne(ctx, op, `DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2`, id, userID)
	})
}
