-- Device authorization requests (RFC 8628, store/device.go). Neither code is stored:
-- id is the SHA-256 digest of the device code, user_code that of the normalised user
-- code, unique so that a code a person types names one request (an expired row is
-- deleted when a new request draws its user code). Times follow 0001's conventions;
-- auth_time and last_polled_at are NULL until set; interval_ms is the polling interval
-- in milliseconds, raised by every slow_down.
CREATE TABLE device_codes (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_code       TEXT    NOT NULL UNIQUE,
    client_id       TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes          TEXT    NOT NULL DEFAULT '[]',
    decision        TEXT    NOT NULL DEFAULT '',
    user_id         TEXT    NOT NULL DEFAULT '',
    provider        TEXT    NOT NULL DEFAULT '',
    auth_time       TEXT,
    interval_ms     INTEGER NOT NULL,
    last_polled_at  TEXT,
    used            INTEGER NOT NULL DEFAULT 0,
    access_token_id TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    NOT NULL,
    expires_at      TEXT    NOT NULL
) STRICT;

CREATE INDEX device_codes_client_id ON device_codes (client_id);
CREATE INDEX device_codes_expires_at ON device_codes (expires_at);
