-- OpenID Connect (issue 12).
-- A signing key serves one purpose: 'access' keys sign access tokens (signing_alg),
-- 'id_token' keys sign ID tokens (RS256, which OpenID Connect requires every provider to
-- support). Each purpose has at most one current key.
ALTER TABLE signing_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT 'access';
DROP INDEX signing_keys_one_current;
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (purpose) WHERE retired_at IS NULL;
-- The nonce of the authorization request and when the user signed in (Unix seconds), for
-- the ID token the code is exchanged for.
ALTER TABLE auth_codes ADD COLUMN nonce TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;
-- Where RP-initiated logout may send the browser back to (exact match).
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
