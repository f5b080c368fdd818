-- A client may be registered as the resource server of APIs (by audience): only
-- such a client, besides the token's own client, learns at introspection that an
-- access token for that API is active (RFC 7662 §2.2, §4).
ALTER TABLE clients ADD COLUMN resource_server_for TEXT NOT NULL DEFAULT '[]';
