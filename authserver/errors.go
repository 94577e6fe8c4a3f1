package authserver

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2 for the token endpoint). Handlers
// return it; writeError is the one place it reaches the wire.
type Error struct {
	// Code is the RFC error code, e.g. invalid_grant.
	Code string
	// Description is a short human-readable explanation; it never contains a secret.
	Description string
	// Status is the HTTP status.
	Status int
	// basicChallenge adds WWW-Authenticate: Basic when the client tried Basic auth.
	basicChallenge bool
	// challenges are further WWW-Authenticate values, for endpoints that also accept a
	// Bearer token from the caller (introspection, the revocation feed).
	challenges []string
	// retryAfter, in seconds, is sent with temporarily_unavailable.
	retryAfter int
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func errInvalidRequest(desc string) *Error {
	return &Error{Code: "invalid_request", Description: desc, Status: http.StatusBadRequest}
}

func errInvalidClient(desc string, basic bool) *Error {
	return &Error{Code: "invalid_client", Description: desc, Status: http.StatusUnauthorized, basicChallenge: basic}
}

func errInvalidGrant(desc string) *Error {
	return &Error{Code: "invalid_grant", Description: desc, Status: http.StatusBadRequest}
}

func errUnauthorizedClient(desc string) *Error {
	return &Error{Code: "unauthorized_client", Description: desc, Status: http.StatusBadRequest}
}

func errUnsupportedGrantType(desc string) *Error {
	return &Error{Code: "unsupported_grant_type", Description: desc, Status: http.StatusBadRequest}
}

func errInvalidScope(desc string) *Error {
	return &Error{Code: "invalid_scope", Description: desc, Status: http.StatusBadRequest}
}

// errUnavailable is returned when the store cannot be reached: the request may be retried.
func errUnavailable() *Error {
	return &Error{Code: "temporarily_unavailable", Description: "the authorization server's storage is unavailable, retry shortly", Status: http.StatusServiceUnavailable, retryAfter: 1}
}

func writeError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	if e.basicChallenge {
		h.Set("WWW-Authenticate", `Basic realm="oauth", charset="UTF-8"`)
	}
	for _, c := range e.challenges {
		h.Add("WWW-Authenticate", c)
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	writeJSON(w, e.Status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
}

// writeJSON writes a JSON body that must never be cached (RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errUnsupportedResponseType(desc string) *Error {
	return &Error{Code: "unsupported_response_type", Description: desc, Status: http.StatusBadRequest}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
