package validator

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// certificateMatches reports whether r came over TLS with a client certificate whose
// SHA-256 thumbprint (of its DER, base64url without padding) is x5t: the check of a
// certificate-bound token, RFC 8705 §3. The host's TLS layer has checked the client's
// possession of the certificate's key in the handshake; which certificate authority
// issued it does not matter here (RFC 8705 §2.2 self-signed certificates bind too).
// Thumbprints are public values, so the comparison need not be constant-time.
func certificateMatches(r *http.Request, x5t string) bool {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
	var buf [43]byte // base64url of 32 bytes, unpadded
	base64.RawURLEncoding.Encode(buf[:], sum[:])
	return string(buf[:]) == x5t
}

// Refusals of a certificate-bound token presented without its certificate, by the
// scheme the token came with.
var (
	refuseCertBearer = invalidToken("the token is bound to a TLS client certificate this connection did not present", nil)
	refuseCertDPoP   = &Refusal{Kind: InvalidToken, DPoP: true, Description: refuseCertBearer.Description}
)

func refuseCertificate(dpopScheme bool) *Refusal {
	if dpopScheme {
		return refuseCertDPoP
	}
	return refuseCertBearer
}
