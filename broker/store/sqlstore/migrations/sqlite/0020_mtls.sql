-- RFC 8705 mutual-TLS client authentication and certificate-bound tokens (issue 15):
-- the one certificate subject value a tls_client_auth client registered (§2.1.2),
-- and the certificate a public client's refresh token is bound to (§4, x5t#S256).
ALTER TABLE clients ADD COLUMN tls_client_auth_subject_dn TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_client_auth_san_dns TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_client_auth_san_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_client_auth_san_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_client_auth_san_email TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN cnf_x5t_s256 TEXT NOT NULL DEFAULT '';
