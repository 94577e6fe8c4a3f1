package authserver

import (
	"encoding/json"
	"net/http"
	"strconv"

	"go.uber.org/zap"
)

// Error is a failure answered to the caller. Flows and handlers return it; each surface
// has one writer that logs the failure's cause, once, and puts the answer on the wire in
// that surface's shape:
//
//   - writeError: the JSON of the token, introspection and revocation endpoints and the
//     revocation feed (RFC 6749 §5.2, RFC 7662, RFC 7009), with WWW-Authenticate and
//     Retry-After;
//   - writeAPIError: the user's JSON API, in Laravel's shape ({"error", "message"}, or
//     422 with the invalid fields);
//   - renderError: the HTML error page of the browser flows;
//   - redirectError: the error sent back to a client's verified redirect URI.
//
// Only Code, Description (and a page's heading) reach the caller. The cause and the log
// line are for the operator, and never hold a secret.
type Error struct {
	// Code is the RFC error code, e.g. invalid_grant.
	Code string
	// Description is a short human-readable explanation; it never contains a secret. On
	// the HTML error page it is the message under the heading.
	Description string
	// Status is the HTTP status.
	Status int
	// basicChallenge adds WWW-Authenticate: Basic when the client tried Basic auth.
	basicChallenge bool
	// challenges are further WWW-Authenticate values, for endpoints that also accept a
	// Bearer token from the caller (introspection, the revocation feed).
	challenges []string
	// retryAfter, in seconds, is sent as Retry-After when positive.
	retryAfter int
	// outage marks a failure on the server's side (storage, signing) that the caller may
	// retry; each surface words it its own way (see the writers).
	outage bool
	// heading is the HTML error page's title.
	heading string
	// invalid holds the fields the JSON API refuses, each with its reasons (422).
	invalid validationErrors
	// logMessage, logFields and cause make the one log line the writer writes, at error
	// level, when logMessage is set: what was being done, and why it failed.
	logMessage string
	logFields  []zap.Field
	cause      error
}

// Error says what failed, with its cause, for code that handles it as an error (the
// command line prints it); it never reaches an HTTP answer.
func (e *Error) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Description + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the cause, so errors.Is sees a store error behind an outage.
func (e *Error) Unwrap() error { return e.cause }

// logged gives e the log line its writer writes: what was being done, its cause (nil
// when there is none) and fields that name the objects involved (ids, never secrets).
func (e *Error) logged(what string, cause error, fields ...zap.Field) *Error {
	e.logMessage, e.cause, e.logFields = what, cause, fields
	return e
}

// logFailure writes e's log line, if it has one. Every writer calls it, so a failure is
// logged once, where it is answered.
func (s *Server) logFailure(e *Error) {
	if e.logMessage == "" {
		return
	}
	fields := e.logFields
	if e.cause != nil {
		fields = append(fields[:len(fields):len(fields)], zap.Error(e.cause))
	}
	s.log.Error(e.logMessage, fields...)
}

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

func errUnsupportedResponseType(desc string) *Error {
	return &Error{Code: "unsupported_response_type", Description: desc, Status: http.StatusBadRequest}
}

// errAccessDenied is the answer to a user who denied the request on the consent page.
func errAccessDenied() *Error {
	return &Error{Code: "access_denied", Description: "the user denied the request"}
}

// errUnavailable is a failure on the server's side, the store's or the signer's, while
// doing what: the request may be retried (503, Retry-After). The writer logs what, with
// cause and fields; the caller only learns that it may retry.
func errUnavailable(what string, cause error, fields ...zap.Field) *Error {
	e := &Error{Code: "temporarily_unavailable", Description: "the authorization server's storage is unavailable, retry shortly",
		Status: http.StatusServiceUnavailable, retryAfter: 1, outage: true}
	return e.logged(what, cause, fields...)
}

// errBusy is a refusal for lack of capacity, not an outage: 503 with Retry-After, not
// logged as a failure.
func errBusy(desc string) *Error {
	return &Error{Code: "temporarily_unavailable", Description: desc, Status: http.StatusServiceUnavailable, retryAfter: 1}
}

// errPage is a refusal of the browser flows shown on the HTML error page: heading and
// message are for the person at the browser, code for anyone reading the details.
func errPage(status int, code, heading, message string) *Error {
	return &Error{Code: code, Description: message, Status: status, heading: heading}
}

// errAPI is a refusal of the JSON API: code and message are its body.
func errAPI(status int, code, message string) *Error {
	return &Error{Code: code, Description: message, Status: status}
}

// writeError answers e as the token, introspection and revocation endpoints and the
// revocation feed do: an RFC 6749 §5.2 body, with its challenges and Retry-After.
func (s *Server) writeError(w http.ResponseWriter, e *Error) {
	s.logFailure(e)
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

// writeAPIError answers e as the JSON API does, in Laravel's shape: {"error", "message"},
// or 422 with every invalid field. An outage is worded for the API's callers, who are
// browsers rather than OAuth clients.
func (s *Server) writeAPIError(w http.ResponseWriter, e *Error) {
	s.logFailure(e)
	if len(e.invalid) > 0 {
		e.invalid.write(w)
		return
	}
	message := e.Description
	if e.outage {
		message = "the server could not complete the request, retry shortly"
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	writeJSON(w, e.Status, map[string]string{"error": e.Code, "message": message})
}

// renderError shows e on the HTML error page. An outage asks the person to try again.
func (s *Server) renderError(w http.ResponseWriter, e *Error) {
	s.logFailure(e)
	heading, message := e.heading, e.Description
	if e.outage {
		heading, message = "Try again", "The server could not complete the request. Please try again in a moment."
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	s.renderPage(w, e.Status, "error", heading, errorPage{Heading: heading, Message: message, Code: e.Code})
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

// writeEncodedJSON writes a JSON body encoded beforehand, with writeJSON's headers.
func writeEncodedJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
