package sqlstore

import (
	"context"

	"github.com/gatehouse/gatehouse/broker/store"
)

type roles struct{ db *DB }

const roleColumns = `user_id, role, granted_by, granted_at`

func scanRole(s rowScanner) (store.RoleGrant, error) {
	var g store.RoleGrant
	err := s.Scan(&g.UserID, &g.Role, &g.GrantedBy, tsd(&g.GrantedAt))
	return g, err
}

func (s roles) Grant(ctx context.Context, g store.RoleGrant) error {
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO user_roles (`+roleColumns+`) VALUES ($1, $2, $3, $4)`,
		g.UserID, g.Role, g.GrantedBy, s.db.ts(g.GrantedAt))
	if err != nil {
		return wrap("roles: grant", err)
	}
	return nil
}

func (s roles) Revoke(ctx context.Context, userID, role string) error {
	const op = "roles: revoke"
	// Lock every grant of the role first: two revocations of it in concurrent
	// transactions then run one after the other, so a count after the delete
	// (the last admin) sees the other's.
	rows, err := s.db.sql.QueryContext(ctx, `SELECT user_id FROM user_roles WHERE role = $1`+s.db.dialect.forUpdate, role)
	if err != nil {
		return wrap(op, err)
	}
	for rows.Next() { // read to the end: each row returned is locked
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return wrap(op, err)
	}
	return s.db.execOne(ctx, op, `DELETE FROM user_roles WHERE user_id = $1 AND role = $2`, userID, role)
}

func (s roles) ListForUser(ctx context.Context, userID string) ([]store.RoleGrant, error) {
	const op = "roles: list for user"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+roleColumns+` FROM user_roles WHERE user_id = $1 ORDER BY role`, userID)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanRole)
}

func (s roles) ListByRole(ctx context.Context, role string) ([]store.RoleGrant, error) {
	const op = "roles: list by role"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+roleColumns+` FROM user_roles WHERE role = $1 ORDER BY granted_at, user_id`, role)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanRole)
}
