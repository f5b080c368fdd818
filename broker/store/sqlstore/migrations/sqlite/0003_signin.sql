-- Federated sign-in: the session remembers its upstream identity, the roles the
-- provider's role rules gave, and the sealed state needed to log out upstream.
ALTER TABLE sessions ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN logout_state_enc BLOB;
CREATE INDEX sessions_identity ON sessions (provider_id, subject);
