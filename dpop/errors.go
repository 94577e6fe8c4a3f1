package dpop

// Error codes of RFC 9449 §7.1 and §12.2, for the error parameter of a token endpoint
// answer or a WWW-Authenticate: DPoP challenge.
const (
	// CodeInvalidProof: the DPoP proof is missing where required, malformed, or fails a
	// check.
	CodeInvalidProof = "invalid_dpop_proof"
	// CodeUseNonce: the proof lacks the nonce the server requires, or has a stale one;
	// the answer carries a fresh nonce in the DPoP-Nonce header.
	CodeUseNonce = "use_dpop_nonce"
)

// Error is why a proof was refused: Code is one of the codes above, Description a
// short human-readable reason that names no secret (it may be sent to the client).
type Error struct {
	Code        string
	Description string
}

func (e *Error) Error() string { return "dpop: " + e.Code + ": " + e.Description }

// invalid is a CodeInvalidProof error.
func invalid(description string) *Error {
	return &Error{Code: CodeInvalidProof, Description: description}
}
