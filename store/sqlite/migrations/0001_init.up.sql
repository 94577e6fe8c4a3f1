-- Initial schema of the SQLite store.
--
-- Conventions (see store/sqlite/sqlite.go):
--   * times are TEXT in the fixed-width UTC form 2006-01-02T15:04:05.000000Z, so that
--     comparing strings compares instants (Purge uses expires_at < ?);
--   * lists (scopes, redirect URIs, grants) are JSON arrays of strings, which round-trip
--     any value, including ones containing spaces or newlines;
--   * booleans are INTEGER 0/1.
-- Token tables are ordinary rowid tables, not WITHOUT ROWID: their keys are random, and
-- every secondary index of a WITHOUT ROWID table repeats the 32+ byte key where a rowid
-- table stores a small integer. Measured, the rowid layout issues tokens about 40%
-- faster: new rows land on the table's last page, and the smaller index entries split
-- pages less often.

CREATE TABLE clients (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL DEFAULT '',
    secret_hash   TEXT    NOT NULL DEFAULT '',
    redirect_uris TEXT    NOT NULL DEFAULT '[]',
    grants        TEXT    NOT NULL DEFAULT '[]',
    provider      TEXT    NOT NULL DEFAULT '',
    user_id       TEXT    NOT NULL DEFAULT '',
    first_party   INTEGER NOT NULL DEFAULT 0,
    introspect    INTEGER NOT NULL DEFAULT 0,
    declarative   INTEGER NOT NULL DEFAULT 0,
    revoked       INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
) STRICT;

CREATE INDEX clients_created_at ON clients (created_at);

-- email_key is strings.ToLower(email), computed by the store: SQLite's NOCASE collation
-- and lower() fold ASCII only, and folding in Go keeps both drivers identical.
CREATE TABLE users (
    id            TEXT NOT NULL PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL
) STRICT;

CREATE INDEX users_created_at ON users (created_at);

-- user_id is not a foreign key: tokens are also issued to users of external providers.
CREATE TABLE access_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL DEFAULT '',
    provider   TEXT    NOT NULL DEFAULT '',
    name       TEXT    NOT NULL DEFAULT '',
    scopes     TEXT    NOT NULL DEFAULT '[]',
    key_id     TEXT    NOT NULL DEFAULT '',
    revoked    INTEGER NOT NULL DEFAULT 0,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
) STRICT;

CREATE INDEX access_tokens_user_id ON access_tokens (user_id, created_at);
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);
-- Partial: a freshly issued token is not revoked, so issuing pays nothing for it.
CREATE INDEX access_tokens_revoked ON access_tokens (id) WHERE revoked = 1;

-- access_token_id is not a foreign key: access tokens expire (and are purged) long
-- before the refresh tokens issued with them.
CREATE TABLE refresh_tokens (
    id              TEXT    NOT NULL PRIMARY KEY,
    access_token_id TEXT    NOT NULL DEFAULT '',
    family_id       TEXT    NOT NULL,
    client_id       TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         TEXT    NOT NULL DEFAULT '',
    provider        TEXT    NOT NULL DEFAULT '',
    scopes          TEXT    NOT NULL DEFAULT '[]',
    revoked         INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    expires_at      TEXT    NOT NULL
) STRICT;

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_access_token_id ON refresh_tokens (access_token_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_revoked ON refresh_tokens (id) WHERE revoked = 1;

CREATE TABLE auth_codes (
    id                    TEXT    NOT NULL PRIMARY KEY,
    client_id             TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id               TEXT    NOT NULL DEFAULT '',
    provider              TEXT    NOT NULL DEFAULT '',
    scopes                TEXT    NOT NULL DEFAULT '[]',
    redirect_uri          TEXT    NOT NULL DEFAULT '',
    code_challenge        TEXT    NOT NULL DEFAULT '',
    code_challenge_method TEXT    NOT NULL DEFAULT '',
    revoked               INTEGER NOT NULL DEFAULT 0,
    created_at            TEXT    NOT NULL,
    expires_at            TEXT    NOT NULL
) STRICT;

CREATE INDEX auth_codes_client_id ON auth_codes (client_id);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);
CREATE INDEX auth_codes_revoked ON auth_codes (id) WHERE revoked = 1;

CREATE TABLE signing_keys (
    id          TEXT NOT NULL PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_pem BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    retired_at  TEXT
) STRICT;

-- At most one current key: every current row has the same indexed value (1).
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;
