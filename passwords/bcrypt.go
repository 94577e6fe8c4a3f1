package passwords

import (
	"errors"

	"golang.org/x/crypto/bcrypt"
)

// Bcrypt verifies and makes bcrypt hashes. Laravel writes the `$2y$` prefix, which is the
// same algorithm as `$2a$`/`$2b$`; Go's bcrypt only reads `$2a$`/`$2b$`, so `$2y$` is
// rewritten before comparing.
type Bcrypt struct {
	// Cost is the work factor for new hashes; 0 means 10, Laravel's default.
	Cost int
}

// Hash returns a `$2a$` bcrypt hash.
func (b Bcrypt) Hash(password string) (string, error) {
	cost := b.Cost
	if cost == 0 {
		cost = 10
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(h), err
}

// Verify compares password with a bcrypt hash in constant time.
func (Bcrypt) Verify(hash, password string) (bool, error) {
	if len(hash) > 4 && hash[:4] == "$2y$" {
		hash = "$2a$" + hash[4:]
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	return err == nil, err
}

// Recognises reports whether hash is a bcrypt hash.
func (Bcrypt) Recognises(hash string) bool { return hasPrefix(hash, "$2y$", "$2a$", "$2b$") }
