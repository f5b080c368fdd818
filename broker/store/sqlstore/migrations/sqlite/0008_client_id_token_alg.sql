-- The JWS alg of a client's ID tokens (OIDC Dynamic Client Registration §2,
-- id_token_signed_response_alg): RS256 unless the client registered another, which
-- is also what relying parties that never set one expect (OIDC Core §3.1.3.7).
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256';
