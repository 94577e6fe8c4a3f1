-- Failed logins counted per key in fixed windows (store/throttle.go), so that login
-- throttling holds across every process sharing the file. key is a digest made by the
-- server (of a provider and username, or of a client address), never a username itself.
CREATE TABLE login_failures (
    key        TEXT    NOT NULL PRIMARY KEY,
    failures   INTEGER NOT NULL,
    expires_at TEXT    NOT NULL
) STRICT;

CREATE INDEX login_failures_expires_at ON login_failures (expires_at);
