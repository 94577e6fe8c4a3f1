package authserver

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/caddyoauth/caddy-oauth/passwords"
)

// secretHashPrefix marks a stored secret digest. Secrets we generate carry 256 random bits,
// so a fast digest is as strong as a slow hash and keeps client authentication cheap.
const secretHashPrefix = "sha256:"

// NewSecret returns a new random secret (256 bits, base64url) for a client or token.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Digest returns the hex SHA-256 of a token value, the id under which it is stored.
func Digest(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// HashSecret returns the stored form of a client secret.
func HashSecret(secret string) string { return secretHashPrefix + Digest(secret) }

// VerifySecret compares a presented secret with its stored form in constant time. An
// imported bcrypt hash (as Passport stores secrets) is verified once; rehash then tells
// the caller to store the fast digest instead.
func VerifySecret(stored, presented string) (ok, rehash bool) {
	if digest, found := strings.CutPrefix(stored, secretHashPrefix); found {
		got := Digest(presented)
		return subtle.ConstantTimeCompare([]byte(got), []byte(digest)) == 1, false
	}
	if (passwords.Bcrypt{}).Recognises(stored) {
		ok, err := passwords.Bcrypt{}.Verify(stored, presented)
		return ok && err == nil, ok && err == nil
	}
	return false, false
}

// newID returns a random 128-bit identifier in hex, used for token ids (jti).
func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
