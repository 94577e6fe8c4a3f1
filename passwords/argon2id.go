package passwords

import "strings"

// Argon2id makes and verifies argon2id hashes in the PHC string format PHP's
// password_hash(PASSWORD_ARGON2ID) writes (Laravel's `argon2id` driver):
// $argon2id$v=19$m=65536,t=4,p=1$<salt>$<hash>. It is the Default for new hashes.
type Argon2id struct{}

// New hashes use OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// Hash returns a PHC-format argon2id hash with a random 16-byte salt.
func (Argon2id) Hash(password string) (string, error) { return newArgon("argon2id", password) }

// Verify recomputes the hash with the stored parameters (bounded, see parseArgon) and
// compares in constant time.
func (Argon2id) Verify(hash, password string) (bool, error) {
	p, err := parseArgon("argon2id", hash)
	if err != nil {
		return false, err
	}
	return p.verify(password), nil
}

// Recognises reports whether hash is an argon2id PHC string.
func (Argon2id) Recognises(hash string) bool { return strings.HasPrefix(hash, "$argon2id$") }
