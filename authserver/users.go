package authserver

import (
	"context"
	"errors"
	"strings"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/passwords"
	"github.com/caddyoauth/caddy-oauth/store"
)

// ErrInvalidCredentials is returned by a UserProvider for an unknown user or a wrong
// password, without saying which.
var ErrInvalidCredentials = errors.New("invalid user credentials")

// DefaultProvider is the name of the user provider used when a client names none, as in
// Laravel Passport.
const DefaultProvider = "users"

// UserProvider checks a user's password and returns the user's id. An unknown user and
// a wrong password both give ErrInvalidCredentials, after the same amount of work.
type UserProvider interface {
	Authenticate(ctx context.Context, username, password string) (userID string, err error)
}

// UserLookup is implemented by providers that can tell whether a user id exists, so a
// personal access token is never issued to a user nobody can log in as.
type UserLookup interface {
	// UserExists reports whether the provider knows the user id.
	UserExists(ctx context.Context, userID string) (bool, error)
}

// UsernameResolver is implemented by a UserProvider that can name a user from its id; the
// introspection endpoint then answers with the username.
type UsernameResolver interface {
	Username(ctx context.Context, userID string) (string, error)
}

// userProvider returns the configured user provider of that name, "" meaning
// DefaultProvider, with the name resolved; nil when none is configured under it.
func (s *Server) userProvider(name string) (string, UserProvider) {
	if name == "" {
		name = DefaultProvider
	}
	return name, s.cfg.Providers[name]
}

// clientProvider is the user provider a client's users sign in with (Passport's provider
// clients). One the configuration lacks is the client's fault: unauthorized_client, logged.
func (s *Server) clientProvider(c *store.Client) (string, UserProvider, *Error) {
	name, p := s.userProvider(c.Provider)
	if p == nil {
		return name, nil, errUnauthorizedClient("the client's user provider is not configured").logged(
			"client names an unknown user provider", nil, zap.String("client_id", c.ID), zap.String("provider", name))
	}
	return name, p, nil
}

// BuiltinUsers authenticates against the users kept in the store (`users builtin`).
type BuiltinUsers struct {
	users store.UserStore
	decoy *passwords.Decoy
}

// NewBuiltinUsers returns the provider of the store's own users.
func NewBuiltinUsers(users store.UserStore) *BuiltinUsers {
	return &BuiltinUsers{users: users, decoy: passwords.NewDecoy("")}
}

// Authenticate looks the user up by email (case-insensitively) and verifies the password.
// An unknown user costs one verification of a hash shaped like the real ones, so response
// time does not reveal who exists.
func (b *BuiltinUsers) Authenticate(ctx context.Context, username, password string) (string, error) {
	u, err := b.users.GetUserByEmail(ctx, strings.TrimSpace(username))
	if errors.Is(err, store.ErrNotFound) {
		b.decoy.Spend(password)
		return "", ErrInvalidCredentials
	}
	if err != nil {
		return "", err
	}
	if !checkPassword(b.decoy, u.PasswordHash, password) {
		return "", ErrInvalidCredentials
	}
	return u.ID, nil
}

// checkPassword verifies password against a user's stored hash. A hash of no known
// format (an account without a password, such as a social-login user) never matches, and
// costs a decoy verification so it looks like any other failure.
func checkPassword(decoy *passwords.Decoy, hash, password string) bool {
	decoy.Observe(hash)
	ok, err := passwords.Verify(hash, password)
	if errors.Is(err, passwords.ErrUnknownFormat) {
		decoy.Spend(password)
		return false
	}
	return err == nil && ok
}

// UserExists reports whether a built-in user has the id.
func (b *BuiltinUsers) UserExists(ctx context.Context, userID string) (bool, error) {
	_, err := b.users.GetUser(ctx, userID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// Username returns the user's email, the name built-in users log in with.
func (b *BuiltinUsers) Username(ctx context.Context, userID string) (string, error) {
	u, err := b.users.GetUser(ctx, userID)
	if err != nil {
		return "", err
	}
	return u.Email, nil
}
