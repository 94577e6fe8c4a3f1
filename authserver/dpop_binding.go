package authserver

import (
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/caddyoauth/caddy-oauth/store"
)

// bindDPoP is the DPoP part of tokenBinding (RFC 9449 §5): a token request with a valid
// proof gets tokens bound to the proof's key (cnf.jkt, token_type DPoP); one without a
// proof gets bearer tokens, unless the client is registered to use DPoP always
// (dpop_bound_access_tokens, §5.2), which refuses it before any grant work.
func (s *Server) bindDPoP(r *http.Request, client *store.Client, cnf *confirmation) *Error {
	p, oerr := s.dpopProof(r, client, PathToken)
	if oerr != nil {
		return oerr
	}
	if p == nil {
		if client.RequireDPoP {
			return errInvalidDPoPProof("this client must send a DPoP proof with every token request (dpop_bound_access_tokens)")
		}
		return nil
	}
	cnf.JKT = p.JKT
	return nil
}

// bindPushedDPoP applies RFC 9449 §10.1 to a pushed authorization request: a DPoP proof
// sent with the push binds the authorization code to its key, as the dpop_jkt parameter
// does (params gets the proof's thumbprint as dpop_jkt); when both are given they must
// name the same key.
func (s *Server) bindPushedDPoP(r *http.Request, client *store.Client, params url.Values) *Error {
	p, oerr := s.dpopProof(r, client, PathPAR)
	if oerr != nil || p == nil {
		return oerr
	}
	if given := params.Get(paramDPoPJKT); given != "" && given != p.JKT {
		return errInvalidDPoPProof("dpop_jkt does not match the DPoP proof's key")
	}
	params.Set(paramDPoPJKT, p.JKT)
	return nil
}

// paramDPoPJKT is the authorization request parameter that binds the code to a DPoP key
// (RFC 9449 §10).
const paramDPoPJKT = "dpop_jkt"

// validJKT reports whether v has the shape of a JWK SHA-256 thumbprint: the unpadded
// base64url of 32 bytes.
func validJKT(v string) bool {
	if len(v) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	return err == nil && len(b) == 32
}

// checkCodeBinding refuses the exchange of a code bound to a DPoP key (dpop_jkt at the
// authorization request, RFC 9449 §10) unless the token request proved that key: a code
// stolen on its way back to the client is then useless without the key. invalid_grant,
// as for any code the request may not use.
func checkCodeBinding(code *store.AuthCode, cnf *confirmation) *Error {
	if code.DPoPJKT == "" {
		return nil
	}
	if cnf == nil || cnf.JKT != code.DPoPJKT {
		return errInvalidGrant("the authorization code is bound to a DPoP key (dpop_jkt): the token request must carry a proof of that key")
	}
	return nil
}
