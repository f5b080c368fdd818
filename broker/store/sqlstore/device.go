package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// deviceAuthorizations stores RFC 8628 device authorization requests.
type deviceAuthorizations struct{ db *DB }

const deviceColumns = `device_code_hash, user_code_hash, client_id, scopes, audience, status, user_id, session_id,
	granted_scopes, grant_id, auth_time, acr, amr, interval_seconds, last_poll_at, created_at, expires_at, decided_at`

func scanDevice(s rowScanner) (store.DeviceAuthorization, error) {
	var d store.DeviceAuthorization
	err := s.Scan(bd(&d.DeviceCodeHash), bd(&d.UserCodeHash), &d.ClientID, ld(&d.Scopes), &d.Audience, &d.Status,
		&d.UserID, &d.SessionID, ld(&d.GrantedScopes), &d.GrantID, tsd(&d.AuthTime), &d.ACR, ld(&d.AMR), &d.Interval,
		tsd(&d.LastPollAt), tsd(&d.CreatedAt), tsd(&d.ExpiresAt), tsd(&d.DecidedAt))
	return d, err
}

func (s deviceAuthorizations) Create(ctx context.Context, d store.DeviceAuthorization) error {
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO device_authorizations (`+deviceColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		d.DeviceCodeHash, d.UserCodeHash, d.ClientID, jsonList[string](d.Scopes), d.Audience, d.Status, d.UserID, d.SessionID,
		jsonList[string](d.GrantedScopes), d.GrantID, s.db.ts(d.AuthTime), d.ACR, jsonList[string](d.AMR), d.Interval,
		s.db.ts(d.LastPollAt), s.db.ts(d.CreatedAt), s.db.ts(d.ExpiresAt), s.db.ts(d.DecidedAt))
	if err != nil {
		return wrap("device authorizations: create", err)
	}
	return nil
}

func (s deviceAuthorizations) Get(ctx context.Context, deviceCodeHash []byte) (store.DeviceAuthorization, error) {
	d, err := scanDevice(s.db.sql.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM device_authorizations
WHERE device_code_hash = $1`, deviceCodeHash))
	if err != nil {
		return store.DeviceAuthorization{}, wrap("device authorizations: get", err)
	}
	return d, nil
}

func (s deviceAuthorizations) GetPending(ctx context.Context, userCodeHash []byte, now time.Time) (store.DeviceAuthorization, error) {
	d, err := scanDevice(s.db.sql.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM device_authorizations
WHERE user_code_hash = $1 AND status = $2 AND expires_at > $3`, userCodeHash, store.DevicePending, s.db.ts(now)))
	if err != nil {
		return store.DeviceAuthorization{}, wrap("device authorizations: get pending", err)
	}
	return d, nil
}

// Decide is one conditional UPDATE: of two decisions racing on any replica,
// only one finds the request still pending.
func (s deviceAuthorizations) Decide(ctx context.Context, deviceCodeHash []byte, d store.DeviceDecision, now time.Time) error {
	if d.Status != store.DeviceApproved && d.Status != store.DeviceDenied {
		return fmt.Errorf("device authorizations: decide: status %q is not a decision", d.Status)
	}
	return s.db.execOne(ctx, "device authorizations: decide", `UPDATE device_authorizations
SET status = $3, user_id = $4, session_id = $5, granted_scopes = $6, grant_id = $7, auth_time = $8, acr = $9, amr = $10,
	decided_at = $2
WHERE device_code_hash = $1 AND status = '`+store.DevicePending+`' AND expires_at > $2`,
		deviceCodeHash, s.db.ts(now), d.Status, d.UserID, d.SessionID, jsonList[string](d.GrantedScopes), d.GrantID,
		s.db.ts(d.AuthTime), d.ACR, jsonList[string](d.AMR))
}

func (s deviceAuthorizations) Polled(ctx context.Context, deviceCodeHash []byte, at time.Time, interval int) error {
	return s.db.execOne(ctx, "device authorizations: polled", `UPDATE device_authorizations
SET last_poll_at = $2, interval_seconds = $3 WHERE device_code_hash = $1`, deviceCodeHash, s.db.ts(at), interval)
}

// Redeem claims the approval with one conditional UPDATE, as codes.Redeem does.
func (s deviceAuthorizations) Redeem(ctx context.Context, deviceCodeHash []byte, now time.Time) (store.DeviceAuthorization, error) {
	const op = "device authorizations: redeem"
	d, err := scanDevice(s.db.sql.QueryRowContext(ctx, `UPDATE device_authorizations SET status = '`+store.DeviceRedeemed+`'
WHERE device_code_hash = $1 AND status = '`+store.DeviceApproved+`' AND expires_at > $2
RETURNING `+deviceColumns, deviceCodeHash, s.db.ts(now)))
	if err == nil {
		return d, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.DeviceAuthorization{}, wrap(op, err)
	}
	d, err = s.Get(ctx, deviceCodeHash)
	switch {
	case err != nil:
		return store.DeviceAuthorization{}, fmt.Errorf("%s: %w", op, err)
	case d.Status == store.DeviceRedeemed:
		return d, fmt.Errorf("%s: %w", op, store.ErrAlreadyUsed)
	default:
		return store.DeviceAuthorization{}, fmt.Errorf("%s: %s or expired: %w", op, d.Status, store.ErrNotFound)
	}
}

func (s deviceAuthorizations) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	return s.db.deleteExpired(ctx, "device authorizations: delete expired", "device_authorizations",
		"expires_at", before)
}
