// Package passwords hashes and verifies human passwords: argon2id for new hashes, and
// bcrypt as Laravel writes it ($2y$) or Go and others do ($2a$, $2b$), argon2id and
// argon2i as PHP's password_hash writes them (Laravel's `argon2id` and `argon` drivers). One algorithm per
// file behind the Hasher interface, as Caddy's caddyauth does.
package passwords

import (
	"errors"
	"strings"
)

// ErrUnknownFormat is returned for a stored hash no Hasher recognises.
var ErrUnknownFormat = errors.New("unrecognised password hash format")

// Hasher is one password hash algorithm.
type Hasher interface {
	// Hash returns the encoded hash of password.
	Hash(password string) (string, error)
	// Verify reports whether password matches the encoded hash.
	Verify(hash, password string) (bool, error)
	// Recognises reports whether the encoded hash is this algorithm's.
	Recognises(hash string) bool
}

var hashers = []Hasher{Argon2id{}, Argon2i{}, Bcrypt{}}

// Default is the algorithm new built-in passwords are hashed with.
var Default Hasher = Argon2id{}

// Hash hashes password with the default algorithm.
func Hash(password string) (string, error) { return Default.Hash(password) }

// Verify checks password against a stored hash of any supported algorithm.
func Verify(hash, password string) (bool, error) {
	for _, h := range hashers {
		if h.Recognises(hash) {
			return h.Verify(hash, password)
		}
	}
	return false, ErrUnknownFormat
}

func hasPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
