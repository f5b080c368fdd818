-- Administration (issue 12): roles granted to users by an admin (or by the
-- bootstrap link), kept apart from the roles a provider's role rules give a
-- session at sign-in; a user is an admin when either says so.
CREATE TABLE user_roles (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role       TEXT NOT NULL,
	granted_by TEXT NOT NULL,
	granted_at TEXT,
	PRIMARY KEY (user_id, role)
);
-- Counting the admins (the last one may not be removed) reads by role.
CREATE INDEX user_roles_role ON user_roles (role);
-- Optimistic locking of APIs (SECURITY.md DATA-11): Update compares the version.
ALTER TABLE apis ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
