package authserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"go.uber.org/zap"

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

// withUser requires a session, and for anything but GET and HEAD its CSRF token.
func (s *Server) withUser(h func(http.ResponseWriter, *http.Request, apiUser)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.currentSession(r)
		if errors.Is(err, errNoSession) {
			writeAPIError(w, http.StatusUnauthorized, "unauthenticated", "log in first")
			return
		}
		if err != nil {
			s.apiStoreFailed(w, "reading session", err)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.checkCSRF(r, sess) {
			writeAPIError(w, statusCSRFMismatch, "csrf_token_mismatch", "the X-CSRF-TOKEN header is missing or does not match the session")
			return
		}
		h(w, r, apiUser{provider: sess.Provider, id: sess.UserID, session: sess})
	}
}

// writeAPIError writes a JSON error of the API.
func writeAPIError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"error": code, "message": message})
}

// validationErrors collects invalid fields, each with its reasons, in Laravel's shape.
type validationErrors map[string][]string

func (v validationErrors) add(field, reason string) { v[field] = append(v[field], reason) }

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

// apiStoreFailed logs a store failure and answers 503.
func (s *Server) apiStoreFailed(w http.ResponseWriter, what string, err error) {
	s.log.Error(what, zap.Error(err))
	w.Header().Set("Retry-After", "1")
	writeAPIError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the server could not complete the request, retry shortly")
}

// readJSON decodes a JSON object body into dst, refusing other media types, unknown
// fields, trailing data and bodies over maxJSONBytes. A false return has answered.
func readJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeAPIError(w, http.StatusUnsupportedMediaType, "invalid_request", "the request body must be application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("malformed JSON body: %s", jsonProblem(err)))
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeAPIError(w, http.StatusBadRequest, "invalid_request", "malformed JSON body: data after the object")
		return false
	}
	return true
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
