-- How a client authenticates and sends its requests (issue 13): token_auth_method is its
-- one token endpoint authentication method ('' = what its secret implies:
-- client_secret_basic/post, or none for a public client); jwks and jwks_uri hold the
-- public keys of a private_key_jwt client (RFC 7523 §2.2); require_par makes its
-- authorization requests go through pushed authorization (RFC 9126).
ALTER TABLE clients ADD COLUMN token_auth_method text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN require_par boolean NOT NULL DEFAULT false;
