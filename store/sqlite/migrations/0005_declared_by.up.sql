-- The issuer of the oauth_server whose configuration declares a client ('' when it has
-- none), so a client block removed from that configuration can be revoked at the next
-- load without touching clients another oauth_server on the same store declares.
ALTER TABLE clients ADD COLUMN declared_by TEXT NOT NULL DEFAULT '';
