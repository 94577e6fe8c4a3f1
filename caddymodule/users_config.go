package caddymodule

import (
	"github.com/caddyoauth/caddy-oauth/authserver"
)

// UserProviderConfig is one user provider: who may log in, and how passwords are checked.
type UserProviderConfig struct {
	// Name is what clients (`provider`) and tokens (the `provider` claim) call the provider.
	// Default: users, the provider of clients that name none.
	Name string `json:"name,omitempty"`

	// Kind is "builtin" (the users kept in the store, managed by `caddy oauth user`) or
	// "sql" (an existing application's user table).
	Kind string `json:"kind"`

	// Database is the application database a sql provider reads: mysql (MySQL or
	// MariaDB), postgres or sqlite. Default: the oauth_server's own storage (its driver
	// and DSN).
	Database *StorageConfig `json:"database,omitempty"`

	// Query finds a user of a sql provider by username ($1, the string typed at login, on
	// every driver) and returns two columns: the user's id and password hash (bcrypt
	// $2y$/$2a$/$2b$, argon2id or argon2i). Default: SELECT id, password FROM users WHERE
	// email = $1 (a Laravel application's users table).
	Query string `json:"query,omitempty"`

	// UsernameQuery names a user of a sql provider from its id ($1, the token's sub) and
	// returns one column, the username. With it, a user deleted from the table stops
	// refreshing tokens and getting personal tokens, and introspection answers
	// `username`. Default: with the default Query, SELECT email FROM users WHERE id = $1;
	// with a Query of your own, none (name yours, or "off" to do without).
	UsernameQuery string `json:"username_query,omitempty"`

	// ClaimsQuery describes a user of a sql provider for OpenID Connect's profile and
	// email scopes ($1, the user's id): each column named as a standard claim (name,
	// email, email_verified, picture, updated_at, ...) fills it, and email_verified_at
	// (Laravel's) fills email_verified. Default: with the default Query, SELECT name,
	// email, email_verified_at FROM users WHERE id = $1 (used if the table has those
	// columns); with a Query of your own, none (name yours, or "off" to do without).
	ClaimsQuery string `json:"claims_query,omitempty"`
}

// ProviderName is the configured name, or the default provider's.
func (u UserProviderConfig) ProviderName() string {
	if u.Name == "" {
		return authserver.DefaultProvider
	}
	return u.Name
}
