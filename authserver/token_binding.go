package authserver

import (
	"net/http"

	"github.com/caddyoauth/caddy-oauth/store"
)

// confirmation is the cnf claim (RFC 7800) of a sender-constrained token: the key or
// certificate whose holder alone may use it. An access token carries it in its claims;
// introspection answers it (RFC 9449 §8, RFC 8705 §3.2).
type confirmation struct {
	// JKT is the base64url SHA-256 JWK thumbprint (RFC 7638) of the DPoP proof key
	// (RFC 9449 §6.1).
	JKT string `json:"jkt,omitempty"`
	// X5TS256 is the base64url SHA-256 thumbprint of the DER client certificate the token
	// was issued over (RFC 8705 §3.1).
	X5TS256 string `json:"x5t#S256,omitempty"`
}

// tokenTypeDPoP is the token_type of a DPoP-bound access token (RFC 9449 §5) in token
// responses and introspection answers; every other access token is "Bearer".
const tokenTypeDPoP = "DPoP"

// accessTokenType is the token_type of an access token bound by cnf (nil: unbound).
func accessTokenType(cnf *confirmation) string {
	if cnf != nil && cnf.JKT != "" {
		return tokenTypeDPoP
	}
	return "Bearer"
}

// refreshConfirmation is the binding a stored refresh token keeps, nil when unbound.
func refreshConfirmation(jkt, x5t string) *confirmation {
	if jkt == "" && x5t == "" {
		return nil
	}
	return &confirmation{JKT: jkt, X5TS256: x5t}
}

// tokenBinding is what the tokens of a token request are bound to: the key of its DPoP
// proof (RFC 9449 §5) and the client certificate of its TLS connection (RFC 8705 §3),
// each when the request and the client call for it; nil when neither does (bearer
// tokens). A request that must be bound and cannot be is refused here, before any grant
// work.
func (s *Server) tokenBinding(r *http.Request, client *store.Client) (*confirmation, *Error) {
	var cnf confirmation
	// The certificate first: its check changes nothing, while a DPoP proof, once
	// checked, is spent.
	if oerr := s.bindCertificate(r, client, &cnf); oerr != nil {
		return nil, oerr
	}
	if oerr := s.bindDPoP(r, client, &cnf); oerr != nil {
		return nil, oerr
	}
	if cnf == (confirmation{}) {
		return nil, nil
	}
	return &cnf, nil
}

// checkRefreshBinding refuses a refresh token bound to a key or certificate (a public
// client's, RFC 9449 §5 and RFC 8705 §4) when the refresh request does not prove the same
// one: a stolen bound refresh token is useless without the key. invalid_grant, as for
// any refresh token the request may not use.
func checkRefreshBinding(old *store.RefreshToken, cnf *confirmation) *Error {
	// Thumbprints are public values (they are in the token): plain comparisons suffice.
	var jkt, x5t string
	if cnf != nil {
		jkt, x5t = cnf.JKT, cnf.X5TS256
	}
	if old.DPoPJKT != "" && old.DPoPJKT != jkt {
		return errInvalidGrant("the refresh token is bound to another DPoP key")
	}
	if old.CertThumbprint != "" && old.CertThumbprint != x5t {
		return errInvalidGrant("the refresh token is bound to another client certificate")
	}
	return nil
}
