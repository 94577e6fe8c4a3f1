package authserver

import (
	"context"
	"errors"
	"strings"

	"github.com/caddyoauth/caddy-oauth/passwords"
	"github.com/caddyoauth/caddy-oauth/store"
)

// ErrInvalidCredentials is returned by a UserProvider for an unknown user or a wrong
// password, without saying which.
var ErrInvalidCredentials = errors.New("invalid user credentials")

// DefaultProvider is the name of the user provider used when a client names none, as in
// Laravel Passport.
const DefaultProvider = "users"

// UserProvider checks a user's password and returns the user's id.
type UserProvider interface {
	Authenticate(ctx context.Context, username, password string) (userID string, err error)
}

// UsernameResolver is implemented by a UserProvider that can name a user from its id; the
// introspection endpoint then answers with the username.
type UsernameResolver interface {
	Username(ctx context.Context, userID string) (string, error)
}

// BuiltinUsers authenticates against the users kept in the store.
type BuiltinUsers struct {
	Users store.UserStore
}

// Authenticate looks the user up by email and verifies the password. An unknown user
// costs one password verification too, so response time does not reveal who exists.
func (b BuiltinUsers) Authenticate(ctx context.Context, username, password string) (string, error) {
	u, err := b.Users.GetUserByEmail(ctx, strings.TrimSpace(username))
	if errors.Is(err, store.ErrNotFound) {
		passwords.SpendVerifyTime(password)
		return "", ErrInvalidCredentials
	}
	if err != nil {
		return "", err
	}
	ok, err := passwords.Verify(u.PasswordHash, password)
	if err != nil || !ok {
		return "", ErrInvalidCredentials
	}
	return u.ID, nil
}

// Username returns the user's email, the name built-in users log in with.
func (b BuiltinUsers) Username(ctx context.Context, userID string) (string, error) {
	u, err := b.Users.GetUser(ctx, userID)
	if err != nil {
		return "", err
	}
	return u.Email, nil
}
