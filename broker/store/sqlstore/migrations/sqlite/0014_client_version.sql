-- Optimistic locking of clients (SECURITY.md DATA-11): two admins editing the
-- same app, or an edit racing a secret rotation; Update compares the version.
ALTER TABLE clients ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
