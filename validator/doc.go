// Package validator is the protocol core of the `oauth_guard` handler: the whole
// per-request decision (Guard.Check) and the parts it is made of. It strips the caller's
// identity headers, takes the bearer token out of a request (RFC 6750) or a first-party
// cookie with its CSRF header, verifies JWT access tokens against a JWKS (RFC 7517, RFC
// 9068, and Laravel Passport's tokens; KeySource, JWTVerifier, TokenCache) or asks the
// authorization server about them (RFC 7662 introspection, with an IntrospectionCache),
// follows the server's feed of revoked token ids (RevocationFeed), checks the binding of
// sender-constrained tokens (a DPoP proof, RFC 9449, dpop.go; a TLS client certificate,
// RFC 8705, cert_binding.go), applies the subject, provider and scope rules, and writes
// RFC 6750 and RFC 9449 refusals.
//
// It imports no Caddy package on purpose, so every rule here is testable with
// net/http/httptest and the Caddy module stays a thin adapter: it builds the Guard from
// its configuration, then per request
//
//	id, err := guard.Check(r)
//	if err != nil {
//		validator.WriteRefusal(w, err, realm)
//		return
//	}
//	// set the identity headers and placeholders from id, call the next handler
package validator
