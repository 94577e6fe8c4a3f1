ALTER TABLE clients DROP COLUMN post_logout_redirect_uris;
ALTER TABLE auth_codes DROP COLUMN auth_time;
ALTER TABLE auth_codes DROP COLUMN nonce;
DELETE FROM signing_keys WHERE purpose <> 'access';
DROP INDEX signing_keys_one_current;
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;
ALTER TABLE signing_keys DROP COLUMN purpose;
