-- The revocation log: every access token revoked, for the GET /oauth/revocations feed
-- that guards follow. Writers take a transaction-scoped advisory lock before they take a
-- seq, and hold it until they commit, so rows become visible in seq order: a reader that
-- has seen seq n has seen every smaller one. token_id is not a foreign key: entries
-- outlive the token rows (purge --revoked) until the token expires.
CREATE TABLE revocations (
    seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_id   text        NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX revocations_expires_at ON revocations (expires_at);
