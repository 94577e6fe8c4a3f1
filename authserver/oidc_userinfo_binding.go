package authserver

import (
	"net/http"
	"strings"

	"github.com/caddyoauth/caddy-oauth/dpop"
)

// checkUserinfoBinding applies an access token's binding at the userinfo endpoint, a
// protected resource of this server, as the guard does in front of an API (RFC 9449 §7,
// RFC 8705 §3): a DPoP-bound token comes with the DPoP scheme and a proof of its key
// for this request (method, URL, the token's hash, once); a token sent with the DPoP
// scheme is DPoP-bound; a certificate-bound token comes over TLS with its certificate.
// Without it a stolen bound token would read the user's claims as a bearer token.
func (s *Server) checkUserinfoBinding(r *http.Request, token string, dpopScheme bool, va *verifiedAccess) *Error {
	cnf := va.claims.Confirmation
	switch {
	case cnf != nil && cnf.JKT != "":
		if !dpopScheme {
			return userinfoDPoPRefusal("invalid_token", "the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof")
		}
		p, oerr := s.verifyDPoPProof(r, va.record.ClientID, PathUserinfo, token)
		switch {
		case oerr != nil && oerr.Status >= http.StatusInternalServerError:
			return oerr
		case oerr != nil && oerr.Code == dpop.CodeUseNonce:
			return userinfoDPoPRefusal(oerr.Code, oerr.Description)
		case oerr != nil:
			return userinfoDPoPRefusal(dpop.CodeInvalidProof, oerr.Description)
		case p == nil:
			return userinfoDPoPRefusal(dpop.CodeInvalidProof, "a DPoP-bound token needs a DPoP proof")
		case p.JKT != cnf.JKT:
			return userinfoDPoPRefusal(dpop.CodeInvalidProof, "the DPoP proof is not signed by the key the token is bound to")
		}
	case dpopScheme:
		return userinfoDPoPRefusal("invalid_token", "the access token is not DPoP-bound: send it with the Bearer scheme")
	}
	if cnf != nil && cnf.X5TS256 != "" && !presentsCertificate(r, cnf.X5TS256) {
		return bearerRefusal(http.StatusUnauthorized, "invalid_token", "the access token is bound to a TLS client certificate this connection did not present", "")
	}
	return nil
}

// userinfoDPoPRefusal is an RFC 9449 §7.1 refusal at the userinfo endpoint: 401 with a
// DPoP challenge naming the error and the proof algorithms accepted.
func userinfoDPoPRefusal(code, desc string) *Error {
	challenge := "DPoP " + userinfoRealm + `, error="` + code + `", algs="` + strings.Join(dpop.Algorithms, " ") + `"`
	return &Error{Code: code, Description: desc, Status: http.StatusUnauthorized, challenges: []string{challenge}}
}

// presentsCertificate reports whether r came over TLS with the client certificate whose
// thumbprint is x5t (RFC 8705 §3.1).
func presentsCertificate(r *http.Request, x5t string) bool {
	cert := peerCertificate(r)
	return cert != nil && certThumbprint(cert) == x5t
}
