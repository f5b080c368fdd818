package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

type signingKeys struct{ db *DB }

const keyColumns = `id, algorithm, public_jwk, private_enc, state, created_at, activated_at, retired_at`

func scanKey(s rowScanner) (store.SigningKey, error) {
	var k store.SigningKey
	err := s.Scan(&k.ID, &k.Algorithm, bd(&k.PublicJWK), bd(&k.PrivateEnc), &k.State, tsd(&k.CreatedAt),
		tsd(&k.ActivatedAt), tsd(&k.RetiredAt))
	return k, err
}

func (s signingKeys) Insert(ctx context.Context, k store.SigningKey) error {
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO signing_keys (`+keyColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.Algorithm, blob(k.PublicJWK), blob(k.PrivateEnc), k.State, s.db.ts(k.CreatedAt),
		s.db.ts(k.ActivatedAt), s.db.ts(k.RetiredAt))
	if err != nil {
		return wrap("signing keys: insert", err)
	}
	return nil
}

// List returns every key, oldest first.
func (s signingKeys) List(ctx context.Context) ([]store.SigningKey, error) {
	const op = "signing keys: list"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanKey)
}

func (s signingKeys) Promote(ctx context.Context, kid string, now time.Time) error {
	const op = "signing keys: promote"
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		// Two promotions of different keys must not interleave: on PostgreSQL each
		// would retire only the active key its snapshot saw, leaving two active.
		if err := s.db.lock(ctx, tx, lockKeys); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE signing_keys SET state = $3, activated_at = $2
WHERE id = $1 AND state = $4`, kid, s.db.ts(now), store.KeyActive, store.KeyNext)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("no key %q in state %q: %w", kid, store.KeyNext, store.ErrNotFound)
		}
		// One active key per algorithm: the server's and the RS256 key for ID tokens
		// (OIDC Discovery §3) rotate independently.
		_, err = tx.ExecContext(ctx, `UPDATE signing_keys SET state = $3, retired_at = $2
WHERE id <> $1 AND state = $4 AND algorithm = (SELECT algorithm FROM signing_keys WHERE id = $1)`,
			kid, s.db.ts(now), store.KeyRetired, store.KeyActive)
		return err
	})
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

func (s signingKeys) Retire(ctx context.Context, kid string, now time.Time) error {
	return s.db.execOne(ctx, "signing keys: retire", `UPDATE signing_keys SET state = $3, retired_at = $2
WHERE id = $1 AND state = $4`, kid, s.db.ts(now), store.KeyRetired, store.KeyActive)
}

func (s signingKeys) Delete(ctx context.Context, kid string) error {
	return s.db.execOne(ctx, "signing keys: delete", `DELETE FROM signing_keys WHERE id = $1`, kid)
}

func (s signingKeys) DeleteRetiredBefore(ctx context.Context, t time.Time) (int64, error) {
	return s.db.execCount(ctx, "signing keys: delete retired before", `DELETE FROM signing_keys
WHERE state = $1 AND retired_at < $2`, store.KeyRetired, s.db.ts(t))
}

func (s signingKeys) Reseal(ctx context.Context, kid string, privateEnc []byte) error {
	return s.db.execOne(ctx, "signing keys: reseal", `UPDATE signing_keys SET private_enc = $2 WHERE id = $1`,
		kid, blob(privateEnc))
}
