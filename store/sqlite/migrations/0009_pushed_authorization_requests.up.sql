-- Pushed authorization requests (RFC 9126, store/par.go). The request_uri is not stored:
-- id is the SHA-256 digest of its random part. params holds the pushed parameters
-- URL-encoded; used is set when an authorization response was produced for it. Times
-- follow 0001's conventions.
CREATE TABLE pushed_authorization_requests (
    id         TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params     TEXT    NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
) STRICT;

CREATE INDEX pushed_authorization_requests_client_id ON pushed_authorization_requests (client_id);
CREATE INDEX pushed_authorization_requests_expires_at ON pushed_authorization_requests (expires_at);
