-- An app's home page (RFC 7591 §2 client_uri), shown on the consent page with
-- its name and logo (issue 13).
ALTER TABLE clients ADD COLUMN client_uri TEXT NOT NULL DEFAULT '';
