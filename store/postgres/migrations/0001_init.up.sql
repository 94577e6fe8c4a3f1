-- Initial schema of the Postgres store. Tables are created unqualified, in the first
-- schema of the connection's search_path, so one database can hold several stores.
--
-- Lists (scopes, redirect URIs, grants) are text[]; times are timestamptz (UTC
-- instants, microsecond precision).

CREATE TABLE clients (
    id            text        NOT NULL PRIMARY KEY,
    name          text        NOT NULL DEFAULT '',
    secret_hash   text        NOT NULL DEFAULT '',
    redirect_uris text[]      NOT NULL DEFAULT '{}',
    grants        text[]      NOT NULL DEFAULT '{}',
    provider      text        NOT NULL DEFAULT '',
    user_id       text        NOT NULL DEFAULT '',
    first_party   boolean     NOT NULL DEFAULT false,
    introspect    boolean     NOT NULL DEFAULT false,
    declarative   boolean     NOT NULL DEFAULT false,
    revoked       boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- email_key is strings.ToLower(email), computed by the store: lower() here depends on
-- the database's ctype (ASCII only under C), and folding in Go keeps both drivers
-- identical.
CREATE TABLE users (
    id            text        NOT NULL PRIMARY KEY,
    email         text        NOT NULL,
    email_key     text        NOT NULL UNIQUE,
    password_hash text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL
);

-- user_id is not a foreign key: tokens are also issued to users of external providers.
CREATE TABLE access_tokens (
    id         text        NOT NULL PRIMARY KEY,
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    text        NOT NULL DEFAULT '',
    provider   text        NOT NULL DEFAULT '',
    name       text        NOT NULL DEFAULT '',
    scopes     text[]      NOT NULL DEFAULT '{}',
    key_id     text        NOT NULL DEFAULT '',
    revoked    boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX access_tokens_user_id ON access_tokens (user_id, created_at);
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);
-- Partial: a freshly issued token is not revoked, so issuing pays nothing for it.
CREATE INDEX access_tokens_revoked ON access_tokens (id) WHERE revoked;

-- access_token_id is not a foreign key: access tokens expire (and are purged) long
-- before the refresh tokens issued with them.
CREATE TABLE refresh_tokens (
    id              text        NOT NULL PRIMARY KEY,
    access_token_id text        NOT NULL DEFAULT '',
    family_id       text        NOT NULL,
    client_id       text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         text        NOT NULL DEFAULT '',
    provider        text        NOT NULL DEFAULT '',
    scopes          text[]      NOT NULL DEFAULT '{}',
    revoked         boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_access_token_id ON refresh_tokens (access_token_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_revoked ON refresh_tokens (id) WHERE revoked;

CREATE TABLE auth_codes (
    id                    text        NOT NULL PRIMARY KEY,
    client_id             text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id               text        NOT NULL DEFAULT '',
    provider              text        NOT NULL DEFAULT '',
    scopes                text[]      NOT NULL DEFAULT '{}',
    redirect_uri          text        NOT NULL DEFAULT '',
    code_challenge        text        NOT NULL DEFAULT '',
    code_challenge_method text        NOT NULL DEFAULT '',
    revoked               boolean     NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL,
    expires_at            timestamptz NOT NULL
);

CREATE INDEX auth_codes_client_id ON auth_codes (client_id);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);
CREATE INDEX auth_codes_revoked ON auth_codes (id) WHERE revoked;

CREATE TABLE signing_keys (
    id          text        NOT NULL PRIMARY KEY,
    alg         text        NOT NULL,
    private_pem bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);

-- At most one current key: every current row has the same indexed value (true).
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;
