package sqlstore

import (
	"context"
	"database/sql"
	"strings"

	"github.com/gatehouse/gatehouse/broker/emailaddr"
	"github.com/gatehouse/gatehouse/broker/store"
)

type users struct{ db *DB }

const userColumns = `id, email, email_verified, name, disabled, created_at, updated_at`

func scanUser(s rowScanner) (store.User, error) {
	var u store.User
	err := s.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Name, &u.Disabled, tsd(&u.CreatedAt), tsd(&u.UpdatedAt))
	return u, err
}

// emailKey is the form emails are compared in (emailaddr.Canonical). It is
// computed here rather than with SQL lower(), which only folds ASCII on SQLite.
func emailKey(email string) string { return emailaddr.Canonical(email) }

const userInsert = `INSERT INTO users (id, email, email_norm, email_verified, name, disabled, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

func (db *DB) userArgs(u store.User) []any {
	return []any{u.ID, u.Email, emailKey(u.Email), u.EmailVerified, u.Name, u.Disabled, db.ts(u.CreatedAt), db.ts(u.UpdatedAt)}
}

func (s users) Create(ctx context.Context, u store.User) error {
	_, err := s.db.sql.ExecContext(ctx, userInsert, s.db.userArgs(u)...)
	if err != nil {
		return wrap("users: create", err)
	}
	return nil
}

func (s users) Get(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.db.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return store.User{}, wrap("users: get", err)
	}
	return u, nil
}

// Update changes everything but ID and CreatedAt.
func (s users) Update(ctx context.Context, u store.User) error {
	return s.db.execOne(ctx, "users: update", `UPDATE users
SET email = $2, email_norm = $3, email_verified = $4, name = $5, disabled = $6, updated_at = $7
WHERE id = $1`,
		u.ID, u.Email, emailKey(u.Email), u.EmailVerified, u.Name, u.Disabled, s.db.ts(u.UpdatedAt))
}

// userProfileUpdate is a sign-in's refresh of the profile (store.SignIn.Profile).
const userProfileUpdate = `UPDATE users SET email = $2, email_norm = $3, email_verified = $4, name = $5, updated_at = $6
WHERE id = $1`

func (db *DB) profileArgs(u store.User) []any {
	return []any{u.ID, u.Email, emailKey(u.Email), u.EmailVerified, u.Name, db.ts(u.UpdatedAt)}
}

func (s users) FindByEmail(ctx context.Context, email string) ([]store.User, error) {
	const op = "users: find by email"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+userColumns+` FROM users
WHERE email_norm = $1 ORDER BY created_at, id`, emailKey(email))
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanUser)
}

func (s users) List(ctx context.Context) ([]store.User, error) {
	const op = "users: list"
	rows, err := s.db.sql.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanUser)
}

// Search walks the users_search index in order (email_norm, then the primary
// key among equal emails) from the cursor, a range of that index, and stops
// after the page: an email prefix or a name match is checked on the rows the
// walk reads (on SQLite from the index alone, which holds lower(name)), so a
// page costs at most the rows up to its last match, never a sort of the
// table. LIKE is given lower-cased operands: PostgreSQL's is case-sensitive
// and SQLite's folds ASCII only.
func (s users) Search(ctx context.Context, q store.UserSearch) ([]store.User, error) {
	const op = "users: search"
	sq, args := s.searchQuery(q)
	rows, err := s.db.sql.QueryContext(ctx, sq, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanUser)
}

// searchQuery is Search's query for q and its arguments (a test reads its plan).
func (s users) searchQuery(q store.UserSearch) (string, []any) {
	limit := q.Limit
	if limit <= 0 || limit > store.MaxUserSearch {
		limit = store.MaxUserSearch
	}
	text := strings.ToLower(strings.TrimSpace(q.Query))
	emailPrefix := text
	if strings.Contains(text, "@") {
		emailPrefix = emailKey(text)
	}
	after := ""
	if q.After.ID != "" {
		after = emailKey(q.After.Email)
	}
	// The cursor as a row value: a range of users_search in both dialects.
	return `SELECT ` + userColumns + ` FROM users
WHERE (email_norm LIKE $1 ESCAPE '\' OR lower(name) LIKE $2 ESCAPE '\')
  AND (email_norm, id) > ($3, $4)
ORDER BY email_norm, id LIMIT $5`, []any{likeEscape(emailPrefix) + "%", "%" + likeEscape(text) + "%", after, q.After.ID, limit}
}

// likeEscape makes s match itself in a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

type identities struct{ db *DB }

const identityColumns = `provider_id, subject, user_id, email, email_verified, claims, linked_at, last_login_at`

func scanIdentity(s rowScanner) (store.Identity, error) {
	var id store.Identity
	err := s.Scan(&id.ProviderID, &id.Subject, &id.UserID, &id.Email, &id.EmailVerified, bd(&id.Claims),
		tsd(&id.LinkedAt), tsd(&id.LastLoginAt))
	return id, err
}

const identityInsert = `INSERT INTO identities (` + identityColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

func (db *DB) identityArgs(id store.Identity) []any {
	return []any{id.ProviderID, id.Subject, id.UserID, id.Email, id.EmailVerified, blob(id.Claims),
		db.ts(id.LinkedAt), db.ts(id.LastLoginAt)}
}

// Link returns ErrNotFound when the user does not exist (a foreign key).
func (s identities) Link(ctx context.Context, id store.Identity) error {
	if _, err := s.db.sql.ExecContext(ctx, identityInsert, s.db.identityArgs(id)...); err != nil {
		return wrap("identities: link", err)
	}
	return nil
}

// LinkNewUser inserts the user and its first identity in one transaction: a
// concurrent first sign-in of the same identity that loses the primary key
// rolls its user back too.
func (s identities) LinkNewUser(ctx context.Context, u store.User, id store.Identity) error {
	id.UserID = u.ID
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, userInsert, s.db.userArgs(u)...); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, identityInsert, s.db.identityArgs(id)...)
		return err
	})
	if err != nil {
		return wrap("identities: link new user", err)
	}
	return nil
}

func (s identities) Get(ctx context.Context, providerID, subject string) (store.Identity, error) {
	id, err := scanIdentity(s.db.sql.QueryRowContext(ctx, `SELECT `+identityColumns+` FROM identities
WHERE provider_id = $1 AND subject = $2`, providerID, subject))
	if err != nil {
		return store.Identity{}, wrap("identities: get", err)
	}
	return id, nil
}

// UserOf reads the identity's user by both primary keys in one statement,
// prepared: a returning user's sign-in makes it.
func (s identities) UserOf(ctx context.Context, providerID, subject string) (store.User, error) {
	const op = "identities: user of"
	st, err := s.db.stmt(ctx, `SELECT `+userColumns+` FROM users
WHERE id = (SELECT user_id FROM identities WHERE provider_id = $1 AND subject = $2)`)
	if err != nil {
		return store.User{}, wrap(op, err)
	}
	u, err := scanUser(st.QueryRowContext(ctx, providerID, subject))
	if err != nil {
		return store.User{}, wrap(op, err)
	}
	return u, nil
}

func (s identities) OwnerOf(ctx context.Context, providerID, subject string) (string, bool, error) {
	const op = "identities: owner of"
	st, err := s.db.stmt(ctx, `SELECT u.id, u.disabled FROM identities i JOIN users u ON u.id = i.user_id
WHERE i.provider_id = $1 AND i.subject = $2`)
	if err != nil {
		return "", false, wrap(op, err)
	}
	var id string
	var disabled bool
	if err := st.QueryRowContext(ctx, providerID, subject).Scan(&id, &disabled); err != nil {
		return "", false, wrap(op, err)
	}
	return id, disabled, nil
}

func (s identities) CountForProvider(ctx context.Context, providerID string) (int, error) {
	var n int
	err := s.db.sql.QueryRowContext(ctx, `SELECT count(*) FROM identities WHERE provider_id = $1`, providerID).Scan(&n)
	if err != nil {
		return 0, wrap("identities: count for provider", err)
	}
	return n, nil
}

func (s identities) ListForUser(ctx context.Context, userID string) ([]store.Identity, error) {
	const op = "identities: list for user"
	rows, err := s.db.query(ctx, `SELECT `+identityColumns+` FROM identities
WHERE user_id = $1 ORDER BY provider_id, subject`, userID)
	if err != nil {
		return nil, wrap(op, err)
	}
	return collect(op, rows, scanIdentity)
}

const identityRecordLogin = `UPDATE identities
SET email = $3, email_verified = $4, claims = $5, last_login_at = $6
WHERE provider_id = $1 AND subject = $2`

func (db *DB) recordLoginArgs(id store.Identity) []any {
	return []any{id.ProviderID, id.Subject, id.Email, id.EmailVerified, blob(id.Claims), db.ts(id.LastLoginAt)}
}

func (s identities) RecordLogin(ctx context.Context, id store.Identity) error {
	return s.db.execOne(ctx, "identities: record login", identityRecordLogin, s.db.recordLoginArgs(id)...)
}

func (s identities) Unlink(ctx context.Context, userID, providerID, subject string) error {
	const op = "identities: unlink"
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		// Lock the user so that two unlinks of its last two identities cannot both
		// count two and leave none.
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE id = $1`+s.db.dialect.forUpdate, userID).Scan(&id)
		if err != nil {
			return err
		}
		var linked, others int
		err = tx.QueryRowContext(ctx, `SELECT
	COUNT(CASE WHEN provider_id = $2 AND subject = $3 THEN 1 END),
	COUNT(CASE WHEN provider_id <> $2 OR subject <> $3 THEN 1 END)
FROM identities WHERE user_id = $1`, userID, providerID, subject).Scan(&linked, &others)
		switch {
		case err != nil:
			return err
		case linked == 0:
			return store.ErrNotFound
		case others == 0:
			return store.ErrLastIdentity
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM identities WHERE provider_id = $1 AND subject = $2`, providerID, subject)
		return err
	})
	if err != nil {
		return wrap(op, err)
	}
	return nil
}
