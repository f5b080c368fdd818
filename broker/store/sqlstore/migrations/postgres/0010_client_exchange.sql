-- RFC 8693 token exchange: the subject token types (full URIs) a client may
-- present, and the providers whose upstream ID tokens or assertions it may
-- exchange.
ALTER TABLE clients ADD COLUMN exchange_token_types TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN exchange_providers TEXT NOT NULL DEFAULT '[]';
