-- When the user signed in (Unix seconds; 0: unknown, as for tokens issued before this
-- column, client tokens and imported Passport tokens), kept on a refresh token so the ID
-- token a refresh issues repeats the original auth_time (OpenID Connect Core §12.2).
ALTER TABLE refresh_tokens ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;
