package authserver

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"

	"github.com/caddyoauth/caddy-oauth/store"
)

// maxFormBytes bounds a token request body; real ones are a few hundred bytes.
const maxFormBytes = 64 << 10

// grantHandler is one grant type's part of the token endpoint.
// cnf is what the tokens are to be bound to (tokenBinding), nil for bearer tokens.
type grantHandler func(ctx context.Context, client *store.Client, form url.Values, r *http.Request, cnf *confirmation) (*tokenResponse, *Error)

// serveToken is POST /oauth/token (RFC 6749 §3.2): parse, authenticate the client,
// dispatch to the grant, answer JSON or a §5.2 error.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	resp, client, oerr := s.token(r)
	allowClientOrigin(w, r, client)
	s.setDPoPNonce(w, r, oerr)
	if oerr != nil {
		s.writeError(w, oerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// token answers a token request; client is the client once it is authenticated (for
// CORS), nil before.
func (s *Server) token(r *http.Request) (resp *tokenResponse, client *store.Client, oerr *Error) {
	if oerr := s.checkTokenAddress(r); oerr != nil {
		return nil, nil, oerr
	}
	form, oerr := readForm(r)
	if oerr != nil {
		return nil, nil, oerr
	}
	grant := form.Get("grant_type")
	if grant == "" {
		return nil, nil, errInvalidRequest("grant_type is required")
	}
	var handle grantHandler
	switch grant {
	case GrantClientCredentials:
		handle = s.clientCredentialsGrant
	case GrantPassword:
		handle = s.passwordGrant
	case GrantRefreshToken:
		handle = s.refreshGrant
	case GrantAuthorizationCode:
		handle = s.authorizationCodeGrant
	case GrantDeviceCode:
		handle = s.deviceCodeGrant
	default:
		return nil, nil, errUnsupportedGrantType("grant_type " + quoteForError(grant) + " is not supported")
	}
	cred, oerr := readClientCredentials(r, form)
	if oerr != nil {
		return nil, nil, oerr
	}
	client, oerr = s.authenticateClient(r.Context(), cred)
	if oerr != nil {
		return nil, nil, oerr
	}
	if oerr := s.checkTokenClient(client.ID); oerr != nil {
		return nil, client, oerr
	}
	if !client.HasGrant(grant) {
		return nil, client, errUnauthorizedClient("the client may not use the " + grant + " grant")
	}
	if !client.Confidential() && grant != GrantRefreshToken && grant != GrantAuthorizationCode && grant != GrantDeviceCode {
		return nil, client, errInvalidClient("a public client may not use the "+grant+" grant", cred.basic)
	}
	cnf, oerr := s.tokenBinding(r, client)
	if oerr != nil {
		return nil, client, oerr
	}
	resp, oerr = handle(r.Context(), client, form, r, cnf)
	return resp, client, oerr
}

// clientRequest reads a form request a client makes to an endpoint beside the token
// endpoint (device authorization, pushed authorization) and authenticates the client as
// the token endpoint does, under its rate limits: per address first, then per client.
func (s *Server) clientRequest(r *http.Request) (url.Values, *store.Client, *Error) {
	if oerr := s.checkTokenAddress(r); oerr != nil {
		return nil, nil, oerr
	}
	form, oerr := readForm(r)
	if oerr != nil {
		return nil, nil, oerr
	}
	cred, oerr := readClientCredentials(r, form)
	if oerr != nil {
		return nil, nil, oerr
	}
	client, oerr := s.authenticateClient(r.Context(), cred)
	if oerr != nil {
		return nil, nil, oerr
	}
	if oerr := s.checkTokenClient(client.ID); oerr != nil {
		return nil, nil, oerr
	}
	return form, client, nil
}

// readForm parses an application/x-www-form-urlencoded body and refuses repeated
// parameters (RFC 6749 §3.2: parameters MUST NOT be included more than once).
func readForm(r *http.Request) (url.Values, *Error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errInvalidRequest("the request body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errInvalidRequest("request body too large")
		}
		return nil, errInvalidRequest("malformed form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, errInvalidRequest("parameter " + quoteForError(k) + " is repeated")
		}
	}
	return r.PostForm, nil
}

// quoteForError quotes a caller-supplied value for an error description, cut short so a
// description never echoes a large input.
func quoteForError(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	b := []byte{'\''}
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e || c == '\'' || c == '"' || c == '\\' {
			c = '?'
		}
		b = append(b, c)
	}
	return string(append(b, '\''))
}
