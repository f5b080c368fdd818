package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

type sessions struct{ db *DB }

const sessionColumns = `id, token_hash, user_id, provider_id, auth_time, amr, acr, ip, user_agent, created_at,
	last_seen_at, expires_at, subject, roles, logout_state_enc, logout_key`

func scanSession(s rowScanner) (store.Session, error) {
	var x store.Session
	err := s.Scan(&x.ID, bd(&x.TokenHash), &x.UserID, &x.ProviderID, tsd(&x.AuthTime), ld(&x.AMR), &x.ACR, &x.IP,
		&x.UserAgent, tsd(&x.CreatedAt), tsd(&x.LastSeenAt), tsd(&x.ExpiresAt), &x.Subject, ld(&x.Roles),
		bd(&x.LogoutStateEnc), &x.LogoutKey)
	return x, err
}

const sessionInsert = `INSERT INTO sessions (` + sessionColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`

func (db *DB) sessionArgs(x store.Session) []any {
	return []any{x.ID, x.TokenHash, x.UserID, x.ProviderID, db.ts(x.AuthTime), jsonList[string](x.AMR), x.ACR, x.IP,
		x.UserAgent, db.ts(x.CreatedAt), db.ts(x.LastSeenAt), db.ts(x.ExpiresAt), x.Subject,
		jsonList[string](x.Roles), blob(x.LogoutStateEnc), x.LogoutKey}
}

func (s sessions) Create(ctx context.Context, x store.Session) error {
	if _, err := s.db.sql.ExecContext(ctx, sessionInsert, s.db.sessionArgs(x)...); err != nil {
		return wrap("sessions: create", err)
	}
	return nil
}

// GetByTokenHash returns the session whether or not it has expired; the caller's
// clock decides.
func (s sessions) GetByTokenHash(ctx context.Context, tokenHash []byte) (store.Session, error) {
	x, err := scanSession(s.db.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions
WHERE token_hash = $1`, tokenHash))
	if err != nil {
		return store.Session{}, wrap("sessions: get by token hash", err)
	}
	return x, nil
}

func (s sessions) Get(ctx context.Context, id string) (store.Session, error) {
	x, err := scanSession(s.db.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	if err != nil {
		return store.Session{}, wrap("sessions: get", err)
	}
	return x, nil
}

func (s sessions) Touch(ctx context.Context, id string, lastSeen time.Time) error {
	return s.db.execOne(ctx, "sessions: touch", `UPDATE sessions SET last_seen_at = $2 WHERE id = $1`,
		id, s.db.ts(lastSeen))
}

func (s sessions) StepUp(ctx context.Context, id string, tokenHash []byte, acr string, amr []string) error {
	return s.db.execOne(ctx, "sessions: step up", `UPDATE sessions SET token_hash = $2, acr = $3, amr = $4 WHERE id = $1`,
		id, tokenHash, acr, jsonList[string](amr))
}

func (s sessions) ListForUser(ctx context.Context, userID string) ([]store.Session, error) {
	const op = "sessions: list for user"
	rows, err := s.db.query(ctx, `SELECT `+sessionColumns+` FROM sessions
WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanSession)
}

func (s sessions) ListForIdentity(ctx context.Context, providerID, subject string) ([]store.Session, error) {
	const op = "sessions: list for identity"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
WHERE provider_id = $1 AND subject = $2 ORDER BY created_at, id`, providerID, subject)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanSession)
}

func (s sessions) ListForLogoutKey(ctx context.Context, providerID, logoutKey string) ([]store.Session, error) {
	const op = "sessions: list for logout key"
	if logoutKey == "" {
		return nil, nil
	}
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
WHERE provider_id = $1 AND logout_key = $2 ORDER BY created_at, id`, providerID, logoutKey)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanSession)
}

// ListForProvider is served by the sessions_identity index (provider_id, subject).
func (s sessions) ListForProvider(ctx context.Context, providerID string) ([]store.Session, error) {
	const op = "sessions: list for provider"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
WHERE provider_id = $1 ORDER BY created_at, id`, providerID)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanSession)
}

func (s sessions) Delete(ctx context.Context, ids ...string) error {
	const op = "sessions: delete"
	if err := checkListed(op, len(ids)); err != nil {
		return err
	}
	_, err := s.db.execCount(ctx, op, `DELETE FROM sessions WHERE id IN (`+paramList(1, len(ids))+`)`, anys(ids)...)
	return err
}

func (s sessions) DeleteForUser(ctx context.Context, userID string) (int64, error) {
	return s.db.execCount(ctx, "sessions: delete for user", `DELETE FROM sessions WHERE user_id = $1`, userID)
}

// expiredSessions is the condition of ListExpired and DeleteExpired; it
// ignores idleSince when it is zero (NULL compares false). Each half has its
// index (migration 0017), which both databases merge for the OR; an ORDER BY
// would make them read every row in id order instead (issue 14).
const expiredSessions = `expires_at < $1 OR last_seen_at < $2`

func (s sessions) ListExpired(ctx context.Context, now, idleSince time.Time, limit int) ([]string, error) {
	const op = "sessions: list expired"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT id FROM sessions WHERE `+expiredSessions+` LIMIT $3`,
		s.db.ts(now), s.db.ts(idleSince), limit)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanID)
}

// DeleteExpired deletes in batches, as the sweeps do (see deleteExpired), so a
// restore watermark over every session does not hold the writer for long. The
// batches are ranges of ids, each after the last, so no batch rereads the rows
// (on PostgreSQL the dead rows) of those before it. The database orders the ids
// (its collation may not be Go's).
func (s sessions) DeleteExpired(ctx context.Context, now, idleSince time.Time) ([]string, error) {
	const op = "sessions: delete expired"
	const page = `SELECT id FROM sessions WHERE (` + expiredSessions + `) AND id > $3 ORDER BY id LIMIT $4`
	const del = `DELETE FROM sessions WHERE (` + expiredSessions + `) AND id > $3 AND id <= $4 RETURNING id`
	var all []string
	after := ""
	for {
		rows, err := s.db.sql.QueryContext(ctx, page, s.db.ts(now), s.db.ts(idleSince), after, sweepBatch)
		if err != nil {
			return all, wrap(op, err)
		}
		ids, err := collect(op, rows, scanID)
		if err != nil || len(ids) == 0 {
			return all, err
		}
		last := ids[len(ids)-1]
		if rows, err = s.db.sql.QueryContext(ctx, del, s.db.ts(now), s.db.ts(idleSince), after, last); err != nil {
			return all, wrap(op, err)
		}
		deleted, err := collect(op, rows, scanID)
		all = append(all, deleted...)
		if err != nil || len(ids) < sweepBatch {
			return all, err
		}
		after = last
	}
}

// scanID reads a row of one ID column.
func scanID(r rowScanner) (string, error) {
	var id string
	err := r.Scan(&id)
	return id, err
}
