ALTER TABLE auth_codes DROP COLUMN dpop_jkt;
ALTER TABLE refresh_tokens DROP COLUMN cert_thumbprint;
ALTER TABLE refresh_tokens DROP COLUMN dpop_jkt;
ALTER TABLE clients DROP COLUMN tls_client_auth_value;
ALTER TABLE clients DROP COLUMN tls_client_auth_attribute;
ALTER TABLE clients DROP COLUMN cert_bound_tokens;
ALTER TABLE clients DROP COLUMN require_dpop;
