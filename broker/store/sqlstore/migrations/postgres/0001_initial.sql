-- Times are TIMESTAMPTZ (microseconds); NULL is the zero time. Lists are JSON arrays.

CREATE TABLE users (
	id             TEXT PRIMARY KEY,
	email          TEXT NOT NULL,
	email_norm     TEXT NOT NULL, -- lower-cased by the application, for lookups
	email_verified BOOLEAN NOT NULL,
	name           TEXT NOT NULL,
	disabled       BOOLEAN NOT NULL,
	created_at     TIMESTAMPTZ,
	updated_at     TIMESTAMPTZ
);
CREATE INDEX users_verified_email ON users (email_norm) WHERE email_verified;

CREATE TABLE identities (
	provider_id    TEXT NOT NULL,
	subject        TEXT NOT NULL,
	user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	email          TEXT NOT NULL,
	email_verified BOOLEAN NOT NULL,
	claims         BYTEA,
	linked_at      TIMESTAMPTZ,
	last_login_at  TIMESTAMPTZ,
	PRIMARY KEY (provider_id, subject)
);
CREATE INDEX identities_user ON identities (user_id);

CREATE TABLE providers (
	id                  TEXT PRIMARY KEY,
	kind                TEXT NOT NULL,
	name                TEXT NOT NULL,
	domains             TEXT NOT NULL,
	enabled             BOOLEAN NOT NULL,
	trust_email_linking BOOLEAN NOT NULL,
	settings            BYTEA,
	secrets_enc         BYTEA,
	version             BIGINT NOT NULL,
	created_at          TIMESTAMPTZ,
	updated_at          TIMESTAMPTZ
);

CREATE TABLE clients (
	id                         TEXT PRIMARY KEY,
	name                       TEXT NOT NULL,
	logo_uri                   TEXT NOT NULL,
	secret_hash                BYTEA,
	is_public                  BOOLEAN NOT NULL,
	first_party                BOOLEAN NOT NULL,
	redirect_uris              TEXT NOT NULL,
	post_logout_redirect_uris  TEXT NOT NULL,
	grant_types                TEXT NOT NULL,
	scopes                     TEXT NOT NULL,
	default_audience           TEXT NOT NULL,
	token_endpoint_auth_method TEXT NOT NULL,
	jwks                       BYTEA,
	jwks_uri                   TEXT NOT NULL,
	access_token_ttl_ns        BIGINT NOT NULL,
	refresh_token_ttl_ns       BIGINT NOT NULL,
	created_at                 TIMESTAMPTZ,
	updated_at                 TIMESTAMPTZ
);

CREATE TABLE apis (
	id         TEXT PRIMARY KEY,
	audience   TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	scopes     TEXT NOT NULL, -- [{"Name":…,"Description":…}]
	created_at TIMESTAMPTZ
);

CREATE TABLE sessions (
	id           TEXT PRIMARY KEY,
	token_hash   BYTEA NOT NULL UNIQUE,
	user_id      TEXT NOT NULL,
	provider_id  TEXT NOT NULL,
	auth_time    TIMESTAMPTZ,
	amr          TEXT NOT NULL,
	acr          TEXT NOT NULL,
	ip           TEXT NOT NULL,
	user_agent   TEXT NOT NULL,
	created_at   TIMESTAMPTZ,
	last_seen_at TIMESTAMPTZ,
	expires_at   TIMESTAMPTZ
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE auth_codes (
	code_hash      BYTEA PRIMARY KEY,
	grant_id       TEXT NOT NULL,
	client_id      TEXT NOT NULL,
	user_id        TEXT NOT NULL,
	session_id     TEXT NOT NULL,
	redirect_uri   TEXT NOT NULL,
	scopes         TEXT NOT NULL,
	audience       TEXT NOT NULL,
	code_challenge TEXT NOT NULL,
	nonce          TEXT NOT NULL,
	auth_time      TIMESTAMPTZ,
	acr            TEXT NOT NULL,
	amr            TEXT NOT NULL,
	delegation_id  TEXT NOT NULL,
	created_at     TIMESTAMPTZ,
	expires_at     TIMESTAMPTZ NOT NULL,
	used_at        TIMESTAMPTZ
);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

CREATE TABLE refresh_tokens (
	token_hash    BYTEA PRIMARY KEY,
	family_id     TEXT NOT NULL,
	grant_id      TEXT NOT NULL,
	client_id     TEXT NOT NULL,
	user_id       TEXT NOT NULL,
	session_id    TEXT NOT NULL,
	scopes        TEXT NOT NULL,
	audience      TEXT NOT NULL,
	delegation_id TEXT NOT NULL,
	auth_time     TIMESTAMPTZ,
	created_at    TIMESTAMPTZ,
	expires_at    TIMESTAMPTZ NOT NULL,
	rotated_at    TIMESTAMPTZ,
	revoked_at    TIMESTAMPTZ
);
-- One index per column RefreshFilter revokes by.
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_delegation ON refresh_tokens (delegation_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE consents (
	user_id      TEXT NOT NULL,
	client_id    TEXT NOT NULL,
	scopes       TEXT NOT NULL,
	created_at   TIMESTAMPTZ,
	updated_at   TIMESTAMPTZ,
	last_used_at TIMESTAMPTZ,
	PRIMARY KEY (user_id, client_id)
);

CREATE TABLE delegations (
	id                TEXT PRIMARY KEY,
	grantor_id        TEXT NOT NULL,
	grantee_user_id   TEXT NOT NULL,
	grantee_client_id TEXT NOT NULL,
	audience          TEXT NOT NULL,
	scopes            TEXT NOT NULL,
	created_at        TIMESTAMPTZ,
	expires_at        TIMESTAMPTZ,
	revoked_at        TIMESTAMPTZ
);
CREATE INDEX delegations_grantor ON delegations (grantor_id);
CREATE INDEX delegations_grantee_user ON delegations (grantee_user_id);
CREATE INDEX delegations_grantee_client ON delegations (grantee_client_id);

CREATE TABLE signing_keys (
	id           TEXT PRIMARY KEY,
	algorithm    TEXT NOT NULL,
	public_jwk   BYTEA,
	private_enc  BYTEA,
	state        TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
	created_at   TIMESTAMPTZ,
	activated_at TIMESTAMPTZ,
	retired_at   TIMESTAMPTZ
);

CREATE TABLE audit_events (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	occurred_at TIMESTAMPTZ,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	target      TEXT NOT NULL,
	ip          TEXT NOT NULL,
	request_id  TEXT NOT NULL,
	details     BYTEA
);
CREATE INDEX audit_events_time ON audit_events (occurred_at);
CREATE INDEX audit_events_actor ON audit_events (actor, occurred_at);
CREATE INDEX audit_events_target ON audit_events (target, occurred_at);

CREATE TABLE replay_cache (
	id         TEXT PRIMARY KEY,
	expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX replay_cache_expires ON replay_cache (expires_at);
