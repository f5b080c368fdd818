-- OAuth 2.0 server: the APIs a client may ask tokens for, and the revocation list of
-- self-contained access tokens.

ALTER TABLE clients ADD COLUMN audiences TEXT NOT NULL DEFAULT '[]';

CREATE TABLE token_revocations (
	key           TEXT PRIMARY KEY,
	issued_before TIMESTAMPTZ NOT NULL,
	keep_until    TIMESTAMPTZ NOT NULL
);
CREATE INDEX token_revocations_keep_until ON token_revocations (keep_until);
