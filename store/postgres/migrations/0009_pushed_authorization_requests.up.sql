-- Pushed authorization requests (RFC 9126, store/par.go). The request_uri is not stored:
-- id is the SHA-256 digest of its random part. params holds the pushed parameters
-- URL-encoded; used is set when an authorization response was produced for it.
CREATE TABLE pushed_authorization_requests (
    id         text        NOT NULL PRIMARY KEY,
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params     text        NOT NULL,
    used       boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX pushed_authorization_requests_client_id ON pushed_authorization_requests (client_id);
CREATE INDEX pushed_authorization_requests_expires_at ON pushed_authorization_requests (expires_at);
