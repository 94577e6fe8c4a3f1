package passwords

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id makes and verifies argon2id hashes in the PHC string format PHP's
// password_hash(PASSWORD_ARGON2ID) writes: $argon2id$v=19$m=65536,t=4,p=1$<salt>$<hash>.
type Argon2id struct{}

// New hashes use OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// Hash returns a PHC-format argon2id hash with a random 16-byte salt.
func (Argon2id) Hash(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// argonParams are the cost parameters and salt of a stored argon2id hash.
type argonParams struct {
	mem, iters uint32
	threads    uint8
	salt, key  []byte
}

// parseArgon2id reads a PHC-format argon2id hash, refusing parameters so large that
// verifying would exhaust the machine.
func parseArgon2id(hash string) (*argonParams, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return nil, fmt.Errorf("malformed argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return nil, fmt.Errorf("unsupported argon2id version %q", parts[2])
	}
	p := &argonParams{}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.mem, &p.iters, &p.threads); err != nil {
		return nil, fmt.Errorf("malformed argon2id parameters %q", parts[3])
	}
	if p.mem > 1<<22 || p.iters > 64 || p.threads == 0 {
		return nil, fmt.Errorf("argon2id parameters out of range")
	}
	b64 := base64.RawStdEncoding
	var err error
	if p.salt, err = b64.DecodeString(parts[4]); err != nil {
		return nil, fmt.Errorf("malformed argon2id salt: %w", err)
	}
	if p.key, err = b64.DecodeString(parts[5]); err != nil || len(p.key) == 0 {
		return nil, fmt.Errorf("malformed argon2id key")
	}
	return p, nil
}

// Verify recomputes the hash with the stored parameters and compares in constant time.
func (Argon2id) Verify(hash, password string) (bool, error) {
	p, err := parseArgon2id(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), p.salt, p.iters, p.mem, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(got, p.key) == 1, nil
}

// argon2idLike hashes password with the parameters, salt length and key length of like.
func argon2idLike(like, password string) (string, error) {
	p, err := parseArgon2id(like)
	if err != nil {
		return "", err
	}
	salt := make([]byte, len(p.salt))
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.iters, p.mem, p.threads, uint32(len(p.key)))
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.mem, p.iters, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Recognises reports whether hash is an argon2id PHC string.
func (Argon2id) Recognises(hash string) bool { return strings.HasPrefix(hash, "$argon2id$") }
