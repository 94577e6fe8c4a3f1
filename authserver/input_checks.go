package authserver

import (
	"context"
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

// authenticateUser asks provider, except for a username no store can hold (see
// storableText), which is refused like an unknown one, after the same password work.
func authenticateUser(ctx context.Context, provider UserProvider, username, password string) (string, error) {
	if !storableText(username) {
		passwords.SpendVerifyTime(password)
		return "", ErrInvalidCredentials
	}
	return provider.Authenticate(ctx, username, password)
}
