-- Ids (jti) of accepted client assertions (private_key_jwt, RFC 7523 §3), kept until the
-- assertion expires so a replay is refused on every node (store/client_assertions.go).
-- Times follow 0001's conventions.
CREATE TABLE client_assertion_jtis (
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    jti        TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (client_id, jti)
) STRICT;

CREATE INDEX client_assertion_jtis_expires_at ON client_assertion_jtis (expires_at);
