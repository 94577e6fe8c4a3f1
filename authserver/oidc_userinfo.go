package authserver

import (
	"errors"
	"mime"
	"net/http"

	"github.com/caddyoauth/caddy-oauth/validator"
)

// userinfoRealm names the userinfo endpoint in its challenges.
const userinfoRealm = `realm="userinfo"`

// serveUserinfo is GET and POST /oauth/userinfo (OpenID Connect Core §5.3): the signed-in
// user's claims, for an access token of a sign-in (the openid scope). The token comes in
// the Authorization header, or, on POST, as the access_token form field (RFC 6750 §2.2).
// Refusals are RFC 6750's, with their WWW-Authenticate challenges.
//
// Browser applications call it from their own origin: the token travels in a header, no
// cookie counts, so any origin may read the answer (CORS, with the preflight answered).
func (s *Server) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, DPoP-Nonce")
	body, oerr := s.userinfo(r)
	s.setDPoPNonce(w, r, oerr)
	if oerr != nil {
		s.writeError(w, oerr)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// userinfoAnswer is the userinfo response: sub and what the token's scopes release.
type userinfoAnswer struct {
	Subject string `json:"sub"`
	*UserClaims
}

func (s *Server) userinfo(r *http.Request) (*userinfoAnswer, *Error) {
	token, dpopScheme, oerr := userinfoToken(r)
	if oerr != nil {
		return nil, oerr
	}
	va, err := s.verifyAccessToken(r.Context(), token, false)
	if err != nil {
		return nil, errUnavailable("checking a userinfo access token", err)
	}
	if va == nil {
		return nil, bearerRefusal(http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked", "")
	}
	if oerr := s.checkUserinfoBinding(r, token, dpopScheme, va); oerr != nil {
		return nil, oerr
	}
	if !hasScope(va.record.Scopes, ScopeOpenID) || va.record.UserID == "" {
		return nil, bearerRefusal(http.StatusForbidden, "insufficient_scope", "the access token is not one of a sign-in (scope openid)", ScopeOpenID)
	}
	claims, oerr := s.userClaims(r.Context(), va.record.Provider, va.record.UserID, va.record.Scopes)
	if oerr != nil {
		return nil, oerr
	}
	return &userinfoAnswer{Subject: va.record.UserID, UserClaims: claims}, nil
}

// userinfoToken reads the access token of a userinfo request: one, from the header (as
// the guard reads it, validator.ExtractToken: Bearer or DPoP) or (POST) the form, not
// both; dpopScheme says the header used the DPoP scheme.
func userinfoToken(r *http.Request) (token string, dpopScheme bool, oerr *Error) {
	fromForm := ""
	if r.Method == http.MethodPost {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			form, oerr := readForm(r)
			if oerr != nil {
				return "", false, bearerRefusal(http.StatusBadRequest, "invalid_request", oerr.Description, "")
			}
			fromForm = form.Get("access_token")
		}
	}
	token, dpopScheme, err := validator.ExtractToken(r)
	var refusal *validator.Refusal
	errors.As(err, &refusal)
	switch {
	case fromForm != "" && len(r.Header["Authorization"]) > 0:
		return "", false, bearerRefusal(http.StatusBadRequest, "invalid_request", "the access token was sent more than once", "")
	case fromForm != "":
		return fromForm, false, nil
	case err == nil:
		return token, dpopScheme, nil
	case refusal != nil && refusal.Kind == validator.NoToken:
		// RFC 6750 §3.1: a request without credentials gets the challenge and no error code.
		e := bearerRefusal(http.StatusUnauthorized, "invalid_token", "no access token", "")
		e.challenges = []string{"Bearer " + userinfoRealm}
		return "", false, e
	}
	return "", false, bearerRefusal(http.StatusBadRequest, "invalid_request", "the Authorization header is not one Bearer or DPoP token", "")
}

// bearerRefusal is an RFC 6750 §3.1 refusal: the error in the body and in the
// WWW-Authenticate challenge, with the scope needed for insufficient_scope.
func bearerRefusal(status int, code, desc, scope string) *Error {
	challenge := "Bearer " + userinfoRealm + `, error="` + code + `"`
	if scope != "" {
		challenge += `, scope="` + scope + `"`
	}
	return &Error{Code: code, Description: desc, Status: status, challenges: []string{challenge}}
}
