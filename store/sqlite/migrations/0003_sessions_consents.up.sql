-- Browser sessions, consents, and the link from an authorization code to the tokens it
-- was exchanged for. Same conventions as 0001 (TEXT times, JSON lists).

-- id is the SHA-256 hex digest of the cookie value. user_id is not a foreign key: users
-- of external providers are not in the users table.
CREATE TABLE sessions (
    id           TEXT NOT NULL PRIMARY KEY,
    user_id      TEXT NOT NULL,
    provider     TEXT NOT NULL DEFAULT '',
    username     TEXT NOT NULL DEFAULT '',
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
) STRICT;

CREATE INDEX sessions_user ON sessions (provider, user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE consents (
    provider   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (provider, user_id, client_id)
) STRICT;

CREATE INDEX consents_client_id ON consents (client_id);

-- The access token a code was exchanged for ('' until then), so that a second use of the
-- code can revoke it. Not a foreign key: access tokens are purged before codes may be.
ALTER TABLE auth_codes ADD COLUMN access_token_id TEXT NOT NULL DEFAULT '';
