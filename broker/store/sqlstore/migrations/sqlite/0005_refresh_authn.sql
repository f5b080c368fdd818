-- A refresh token carries the authentication context of the login it came from, so
-- the tokens it is exchanged for repeat that login's acr and amr (OIDC Core §12.2,
-- RFC 9068 §2.2.1) instead of dropping them.
ALTER TABLE refresh_tokens ADD COLUMN acr TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';
