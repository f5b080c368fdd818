-- DPoP (RFC 9449, issue 15). A client may require DPoP-bound access tokens
-- (§5.2 dpop_bound_access_tokens); a code remembers the dpop_jkt of its
-- authorization request (§10); a public client's refresh token is bound to
-- the key it was issued with (§5). '' means unbound.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
