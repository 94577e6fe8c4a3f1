-- Device authorization requests (RFC 8628, store/device.go). Neither code is stored:
-- id is the SHA-256 digest of the device code, user_code that of the normalised user
-- code, unique so that a code a person types names one request (an expired row is
-- deleted when a new request draws its user code). auth_time and last_polled_at are
-- NULL until set; interval_ms is the polling interval in milliseconds, raised by every
-- slow_down.
CREATE TABLE device_codes (
    id              text        NOT NULL PRIMARY KEY,
    user_code       text        NOT NULL UNIQUE,
    client_id       text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes          text[]      NOT NULL DEFAULT '{}',
    decision        text        NOT NULL DEFAULT '',
    user_id         text        NOT NULL DEFAULT '',
    provider        text        NOT NULL DEFAULT '',
    auth_time       timestamptz,
    interval_ms     bigint      NOT NULL,
    last_polled_at  timestamptz,
    used            boolean     NOT NULL DEFAULT false,
    access_token_id text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);

CREATE INDEX device_codes_client_id ON device_codes (client_id);
CREATE INDEX device_codes_expires_at ON device_codes (expires_at);
