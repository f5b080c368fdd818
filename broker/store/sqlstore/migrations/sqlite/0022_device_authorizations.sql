-- The device authorization grant (RFC 8628, issue 15). The device code is stored
-- only as a SHA-256 hash; the user code (34 bits, §6.1) as a keyed hash, so a
-- copy of the table does not give up the codes to an offline search (§5.1).
CREATE TABLE device_authorizations (
	device_code_hash BLOB PRIMARY KEY,
	user_code_hash   BLOB NOT NULL UNIQUE,
	client_id        TEXT NOT NULL,
	scopes           TEXT NOT NULL,
	audience         TEXT NOT NULL,
	status           TEXT NOT NULL,
	user_id          TEXT NOT NULL DEFAULT '',
	session_id       TEXT NOT NULL DEFAULT '',
	granted_scopes   TEXT NOT NULL DEFAULT '[]',
	grant_id         TEXT NOT NULL DEFAULT '',
	auth_time        TEXT,
	acr              TEXT NOT NULL DEFAULT '',
	amr              TEXT NOT NULL DEFAULT '[]',
	interval_seconds INTEGER NOT NULL,
	last_poll_at     TEXT,
	created_at       TEXT NOT NULL,
	expires_at       TEXT NOT NULL,
	decided_at       TEXT
);
CREATE INDEX device_authorizations_expires ON device_authorizations (expires_at);
