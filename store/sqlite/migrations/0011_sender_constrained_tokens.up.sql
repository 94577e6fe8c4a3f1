-- Sender-constrained tokens (issue 13): DPoP (RFC 9449) and mutual-TLS-bound tokens
-- (RFC 8705).
--   clients.require_dpop: the client's token requests must carry a DPoP proof
--     (dpop_bound_access_tokens, RFC 9449 §5.2).
--   clients.cert_bound_tokens: the client's tokens are bound to the TLS client
--     certificate of its token request (tls_client_certificate_bound_access_tokens,
--     RFC 8705 §3.4).
--   clients.tls_client_auth_attribute / tls_client_auth_value: for token_auth_method
--     tls_client_auth, the one certificate attribute that must match (RFC 8705 §2.1.2:
--     subject_dn, san_dns, san_uri, san_ip or san_email) and its value.
--   refresh_tokens.dpop_jkt / cert_thumbprint: the JWK thumbprint (RFC 7638) or the
--     certificate's SHA-256 thumbprint (x5t#S256) a public client's refresh token is
--     bound to; '' for an unbound token.
--   auth_codes.dpop_jkt: the dpop_jkt of the authorization request (RFC 9449 §10), which
--     the code's exchange must prove; '' when none was given.
ALTER TABLE clients ADD COLUMN require_dpop INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN cert_bound_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN tls_client_auth_attribute TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_client_auth_value TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN cert_thumbprint TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
