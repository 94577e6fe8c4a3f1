package authserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/caddyoauth/caddy-oauth/store"
)

// The JSON API a logged-in user's browser calls (the dashboard's, or an application's
// own pages on the same origin), as Laravel Passport's: the user's clients, authorized
// applications' tokens, and personal access tokens. Every call needs the session cookie;
// every call that changes something also needs the session's CSRF token in the
// X-CSRF-TOKEN (or X-XSRF-TOKEN) header, else it is refused with 419, Laravel's status for
// a CSRF token mismatch. Another user's object answers 404, as a missing one does, so ids
// cannot be probed. Invalid input answers 422 in Laravel's validation format:
// {"message": "...", "errors": {"<field>": ["<reason>", ...]}}.
const (
	PathClients              = "/oauth/clients"
	PathTokens               = "/oauth/tokens"
	PathPersonalAccessTokens = "/oauth/personal-access-tokens"
)

// Why the JSON API revoked a token, in events and metrics (see endpoint_revoke.go).
const (
	reasonUser          = "user_revoked"   // the user revoked it on the dashboard or API
	reasonClientDeleted = "client_deleted" // its client was deleted by its owner
)

// statusCSRFMismatch is Laravel's "419 Page Expired", which its HTTP clients and
// Passport's front-end components treat as a CSRF token mismatch.
const statusCSRFMismatch = 419

// maxJSONBytes bounds a JSON API request body.
const maxJSONBytes = 64 << 10

// apiRoutes serves the JSON API. Go's ServeMux patterns give each method and path its
// handler and the {id} path value.
func (s *Server) apiRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathClients, s.withUser(s.listClients))
	mux.HandleFunc("POST "+PathClients, s.withUser(s.createClient))
	mux.HandleFunc("PUT "+PathClients+"/{id}", s.withUser(s.updateClient))
	mux.HandleFunc("DELETE "+PathClients+"/{id}", s.withUser(s.deleteClient))
	mux.HandleFunc("GET "+PathTokens, s.withUser(s.listTokens))
	mux.HandleFunc("DELETE "+PathTokens+"/{id}", s.withUser(s.deleteToken))
	mux.HandleFunc("GET "+PathPersonalAccessTokens, s.withUser(s.listPersonalTokens))
	mux.HandleFunc("POST "+PathPersonalAccessTokens, s.withUser(s.createPersonalToken))
	mux.HandleFunc("DELETE "+PathPersonalAccessTokens+"/{id}", s.withUser(s.deletePersonalToken))
	return mux
}

// isAPIPath reports whether path belongs to the JSON API.
func isAPIPath(path string) bool {
	for _, p := range []string{PathClients, PathTokens, PathPersonalAccessTokens} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// apiUser is the logged-in user a JSON API call acts for.
type apiUser struct {
	provider, id string
	session      *store.Session
}

// apiHandler is one call of the JSON API. It writes its answer, or returns the error
// that withUser answers in the API's shape (writeAPIError).
type apiHandler func(w http.ResponseWriter, r *http.Request, u apiUser) *Error

// withUser requires a session, and for anything but GET and HEAD its CSRF token, then
// runs h and answers its error.
func (s *Server) withUser(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if oerr := s.callAPI(w, r, h); oerr != nil {
			s.writeAPIError(w, oerr)
		}
	}
}

// callAPI checks the session and CSRF token and runs h.
func (s *Server) callAPI(w http.ResponseWriter, r *http.Request, h apiHandler) *Error {
	sess, err := s.currentSession(r)
	if errors.Is(err, errNoSession) {
		return errUnauthenticated()
	}
	if err != nil {
		return errUnavailable("reading session", err)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.checkCSRF(r, sess) {
		return errAPI(statusCSRFMismatch, "csrf_token_mismatch", "the X-CSRF-TOKEN header is missing or does not match the session")
	}
	return h(w, r, apiUser{provider: sess.Provider, id: sess.UserID, session: sess})
}

// errUnauthenticated refuses a JSON API call without a session.
func errUnauthenticated() *Error {
	return errAPI(http.StatusUnauthorized, "unauthenticated", "log in first")
}

// validationErrors collects invalid fields, each with its reasons, in Laravel's shape.
type validationErrors map[string][]string

func (v validationErrors) add(field, reason string) { v[field] = append(v[field], reason) }

// err is the API error that answers 422 with these fields; nil when there are none.
func (v validationErrors) err() *Error {
	if len(v) == 0 {
		return nil
	}
	return &Error{Code: "validation_failed", Description: "the given data was invalid", Status: http.StatusUnprocessableEntity, invalid: v}
}

// write answers 422 with every invalid field.
func (v validationErrors) write(w http.ResponseWriter) {
	fields := make([]string, 0, len(v))
	for f := range v {
		fields = append(fields, f)
	}
	msg := "the given data was invalid"
	if len(fields) == 1 {
		msg = v[fields[0]][0]
	}
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": msg, "errors": v})
}

// readJSON decodes a JSON object body into dst, refusing other media types, unknown
// fields, trailing data and bodies over maxJSONBytes.
func readJSON(w http.ResponseWriter, r *http.Request, dst any) *Error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errAPI(http.StatusUnsupportedMediaType, "invalid_request", "the request body must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return errAPI(http.StatusBadRequest, "invalid_request", fmt.Sprintf("malformed JSON body: %s", jsonProblem(err)))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errAPI(http.StatusBadRequest, "invalid_request", "malformed JSON body: data after the object")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %s has the wrong type", quoteForError(typeErr.Field))
	case errors.As(err, &tooBig):
		return "too large"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + quoteForError(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
	}
	return "not a JSON object"
}
