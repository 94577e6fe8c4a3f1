ALTER TABLE auth_codes DROP COLUMN access_token_id;
DROP TABLE consents;
DROP TABLE sessions;
