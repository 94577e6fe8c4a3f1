package authserver

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/caddyoauth/caddy-oauth/passwords"
)

// storableText reports whether s can name something in the store: valid UTF-8 without
// NUL. PostgreSQL refuses any other parameter with an error, so a caller's garbage id
// or username would otherwise be answered as a storage outage (503, an error log) rather
// than refused like any unknown one.
func storableText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// authenticateUser asks the user provider named providerName to check a password,
// unless the username from this address is locked out for guessing (a *throttledError),
// or is a username no store can hold (see storableText), which is refused like an
// unknown one after the same password work.
func (s *Server) authenticateUser(r *http.Request, providerName string, provider UserProvider, username, password string) (string, error) {
	key := throttleKey(r, providerName, username)
	if wait := s.throttle.begin(key, s.now()); wait > 0 {
		return "", &throttledError{retryAfter: wait}
	}
	var (
		userID string
		err    error
	)
	if storableText(username) {
		userID, err = provider.Authenticate(r.Context(), username, password)
	} else {
		passwords.SpendVerifyTime(password)
		err = ErrInvalidCredentials
	}
	switch {
	case err == nil:
		s.throttle.succeeded(key)
	case !errors.Is(err, ErrInvalidCredentials):
		s.throttle.undo(key)
	}
	return userID, err
}
