-- IdP-initiated logout finds sessions by a key the provider derives from the
-- upstream principal (a SAML NameID), which need not be the identity's subject.
ALTER TABLE sessions ADD COLUMN logout_key TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_logout_key ON sessions (provider_id, logout_key) WHERE logout_key <> '';
