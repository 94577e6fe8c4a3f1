package passwords

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// The PHC string format shared by argon2i (argon2i.go) and argon2id (argon2id.go), as
// PHP's password_hash writes it: $<variant>$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>,
// salt and hash in unpadded standard base64.

// Bounds on a stored hash's parameters. The hash comes from a database, and verifying
// runs whatever it names: without bounds one hostile row (m=4194304,t=4294967295) makes
// every login attempt for it allocate gigabytes and run for hours. The bounds leave room
// for every setting a PHP or Laravel application uses in practice (PHP's default is
// m=65536,t=4,p=1; Laravel's `argon` and `argon2id` drivers default to the same).
const (
	maxArgonMemory  = 256 * 1024 // KiB per verification (256 MiB)
	maxArgonPasses  = 16
	maxArgonWork    = 1024 * 1024 // KiB × passes: memory filled per verification (1 GiB)
	maxArgonThreads = 16
	minArgonSalt    = 8
	maxArgonSalt    = 64
	minArgonKey     = 16
	maxArgonKey     = 64
)

// argonParams are the cost parameters, salt and digest of a stored argon2 hash.
type argonParams struct {
	variant    string // "argon2i" or "argon2id"
	mem, iters uint32
	threads    uint8
	salt, key  []byte
}

// errArgonMalformed is every parse failure: the hash is named by its variant only, never
// shown, since it is a secret-derived value.
func errArgonMalformed(variant, what string) error {
	return fmt.Errorf("malformed %s hash: %s", variant, what)
}

// parseArgon reads a PHC-format hash of the given variant, refusing anything but the
// exact form PHP writes and parameters beyond the bounds above.
func parseArgon(variant, hash string) (*argonParams, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != variant {
		return nil, errArgonMalformed(variant, "want $"+variant+"$v=19$m=..,t=..,p=..$<salt>$<hash>")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("unsupported %s version %q (want v=19)", variant, parts[2])
	}
	p := &argonParams{variant: variant}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return nil, errArgonMalformed(variant, "want the parameters m=..,t=..,p=..")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(params[i], name)
		if !ok || digits == "" || digits[0] < '0' || digits[0] > '9' {
			return nil, errArgonMalformed(variant, "want the parameters m=..,t=..,p=..")
		}
		v, err := strconv.ParseUint(digits, 10, 32)
		if err != nil {
			return nil, errArgonMalformed(variant, "parameter "+name[:1]+" is not a number in range")
		}
		vals[i] = v
	}
	mem, iters, threads := vals[0], vals[1], vals[2]
	if threads == 0 || threads > maxArgonThreads || iters == 0 || iters > maxArgonPasses ||
		mem < 8*threads || mem > maxArgonMemory || mem*iters > maxArgonWork {
		return nil, fmt.Errorf("%s parameters out of range (at most m=%d KiB, t=%d, m×t=%d, p=%d)",
			variant, maxArgonMemory, maxArgonPasses, maxArgonWork, maxArgonThreads)
	}
	p.mem, p.iters, p.threads = uint32(mem), uint32(iters), uint8(threads)
	b64 := base64.RawStdEncoding.Strict()
	var err error
	if p.salt, err = b64.DecodeString(parts[4]); err != nil || len(p.salt) < minArgonSalt || len(p.salt) > maxArgonSalt {
		return nil, errArgonMalformed(variant, fmt.Sprintf("want a base64 salt of %d to %d bytes", minArgonSalt, maxArgonSalt))
	}
	if p.key, err = b64.DecodeString(parts[5]); err != nil || len(p.key) < minArgonKey || len(p.key) > maxArgonKey {
		return nil, errArgonMalformed(variant, fmt.Sprintf("want a base64 digest of %d to %d bytes", minArgonKey, maxArgonKey))
	}
	return p, nil
}

// derive runs the variant's key derivation on password with p's parameters and salt,
// producing a digest as long as p's.
func (p *argonParams) derive(password string) []byte {
	if p.variant == "argon2i" {
		return argon2.Key([]byte(password), p.salt, p.iters, p.mem, p.threads, uint32(len(p.key)))
	}
	return argon2.IDKey([]byte(password), p.salt, p.iters, p.mem, p.threads, uint32(len(p.key)))
}

// verify reports whether password derives p's digest, compared in constant time.
func (p *argonParams) verify(password string) bool {
	return subtle.ConstantTimeCompare(p.derive(password), p.key) == 1
}

// encode writes p as a PHC string.
func (p *argonParams) encode() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$%s$v=%d$m=%d,t=%d,p=%d$%s$%s", p.variant,
		argon2.Version, p.mem, p.iters, p.threads, b64.EncodeToString(p.salt), b64.EncodeToString(p.key))
}

// newArgon hashes password with the variant, the parameters for new hashes and a random
// 16-byte salt.
func newArgon(variant, password string) (string, error) {
	p := &argonParams{variant: variant, mem: argonMemory, iters: argonTime, threads: argonThreads,
		salt: make([]byte, 16), key: make([]byte, argonKeyLen)}
	return hashArgonLike(p, password)
}

// argonLike hashes password with the variant, parameters, salt length and digest length
// of the stored hash like (the decoy's dummy hashes).
func argonLike(like, password string) (string, error) {
	for _, variant := range []string{"argon2id", "argon2i"} {
		if strings.HasPrefix(like, "$"+variant+"$") {
			p, err := parseArgon(variant, like)
			if err != nil {
				return "", err
			}
			return hashArgonLike(p, password)
		}
	}
	return "", errors.New("not an argon2 hash")
}

// hashArgonLike fills a fresh random salt of p's salt length and derives the digest.
func hashArgonLike(p *argonParams, password string) (string, error) {
	q := *p
	q.salt = make([]byte, len(p.salt))
	if _, err := rand.Read(q.salt); err != nil {
		return "", err
	}
	q.key = q.derive(password)
	return q.encode(), nil
}
