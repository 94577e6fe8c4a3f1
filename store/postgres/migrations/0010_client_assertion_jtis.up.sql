-- Ids (jti) of accepted client assertions (private_key_jwt, RFC 7523 §3), kept until the
-- assertion expires so a replay is refused on every node (store/client_assertions.go).
CREATE TABLE client_assertion_jtis (
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    jti        text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (client_id, jti)
);

CREATE INDEX client_assertion_jtis_expires_at ON client_assertion_jtis (expires_at);
