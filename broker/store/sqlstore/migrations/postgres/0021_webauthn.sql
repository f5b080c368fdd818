-- Security keys and passkeys (issue 15): the WebAuthn credential records of
-- each person (WebAuthn L2 §4 "credential record"), usable as a second factor
-- after the upstream sign-in.
CREATE TABLE webauthn_credentials (
	id                 TEXT PRIMARY KEY,
	user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	credential_id      BYTEA NOT NULL UNIQUE,
	public_key         BYTEA NOT NULL,
	attestation_format TEXT NOT NULL DEFAULT '',
	aaguid             BYTEA,
	sign_count         BIGINT NOT NULL DEFAULT 0,
	transports         TEXT NOT NULL DEFAULT '[]',
	attachment         TEXT NOT NULL DEFAULT '',
	backup_eligible    BOOLEAN NOT NULL DEFAULT FALSE,
	backup_state       BOOLEAN NOT NULL DEFAULT FALSE,
	user_verified      BOOLEAN NOT NULL DEFAULT FALSE,
	name               TEXT NOT NULL,
	created_at         TIMESTAMPTZ,
	last_used_at       TIMESTAMPTZ,
	clone_warning      BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);
