-- The revocation log: every access token revoked, in the order the revocations were
-- committed, for the GET /oauth/revocations feed that guards follow. seq is an
-- AUTOINCREMENT key, so it never goes back even after the newest rows are deleted; one
-- writer at a time means rows become visible in seq order. token_id is not a foreign
-- key: entries outlive the token rows (purge --revoked) until the token expires.
CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    token_id   TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    revoked_at TEXT    NOT NULL
) STRICT;

CREATE INDEX revocations_expires_at ON revocations (expires_at);
