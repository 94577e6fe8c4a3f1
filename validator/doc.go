// Package validator is the protocol core of the `oauth_guard` handler: it takes the bearer
// token out of a request (RFC 6750), verifies JWT access tokens against a JWKS (RFC 7517,
// RFC 9068, and Laravel Passport's tokens) or asks the authorization server about them
// (RFC 7662 introspection, with an IntrospectionCache), follows the server's feed of
// revoked token ids (RevocationFeed), caches verified tokens, and writes RFC 6750
// refusals.
//
// It imports no Caddy package on purpose, so every rule here is testable with
// net/http/httptest and the Caddy module stays a thin adapter.
//
// The usual flow:
//
//	tok, err := validator.ExtractBearer(r)
//	if err == nil {
//		id, err = verifier.Verify(r.Context(), tok)
//	}
//	if err != nil {
//		validator.WriteRefusal(w, err, realm)
//		return
//	}
//	if !scopes.SatisfiedAll(rules, id.Scopes) {
//		validator.WriteRefusal(w, validator.RefuseScope(required), realm)
//		return
//	}
package validator
