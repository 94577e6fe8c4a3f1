package authserver

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
