-- Browser sessions, consents, and the link from an authorization code to the tokens it
-- was exchanged for.

-- id is the SHA-256 hex digest of the cookie value. user_id is not a foreign key: users
-- of external providers are not in the users table.
CREATE TABLE sessions (
    id           text        NOT NULL PRIMARY KEY,
    user_id      text        NOT NULL,
    provider     text        NOT NULL DEFAULT '',
    username     text        NOT NULL DEFAULT '',
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

CREATE INDEX sessions_user ON sessions (provider, user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE consents (
    provider   text        NOT NULL,
    user_id    text        NOT NULL,
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     text[]      NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (provider, user_id, client_id)
);

CREATE INDEX consents_client_id ON consents (client_id);

-- The access token a code was exchanged for ('' until then), so that a second use of the
-- code can revoke it. Not a foreign key: access tokens are purged before codes may be.
ALTER TABLE auth_codes ADD COLUMN access_token_id text NOT NULL DEFAULT '';
