// Package dpop checks DPoP proofs (RFC 9449, OAuth 2.0 Demonstrating Proof of
// Possession): the signed JWT a client sends in the DPoP header to show it holds the
// private key a token is bound to.
//
// Verifier checks one proof against the request it came with (method, URL, access
// token, nonce, time) and returns the key's RFC 7638 thumbprint, which the caller
// compares with the token's cnf.jkt. ReplayCache remembers the proofs already accepted
// so each is accepted once; Nonces issues and checks the server-provided nonces of RFC
// 9449 §8 and §9. The package knows nothing of Caddy or of this project's server: the
// authorization server and the guard both use it.
package dpop
