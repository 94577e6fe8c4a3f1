-- Failed logins counted per key in fixed windows (store/throttle.go), so that login
-- throttling holds across every node sharing the database. key is a digest made by the
-- server (of a provider and username, or of a client address), never a username itself.
CREATE TABLE login_failures (
    key        text        NOT NULL PRIMARY KEY,
    failures   integer     NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX login_failures_expires_at ON login_failures (expires_at);
