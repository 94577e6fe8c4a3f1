// Package phpencryption decrypts the ciphertexts defuse/php-encryption (version 2)
// makes with a password, Crypto::encryptWithPassword: the format league/oauth2-server
// encrypts Laravel Passport's refresh tokens in, with the application's APP_KEY as the
// password. It imports nothing from Caddy.
//
// The format (the library's docs/CryptoDetails.md, and its KeyOrPassword::deriveKeys for
// the password pre-hash the docs leave out), hex-encoded:
//
//	VERSION (DE F5 02 00) || salt (32) || iv (16) || AES-256-CTR(plaintext) || HMAC-SHA256 (32)
//
// with k = PBKDF2-SHA256(SHA-256(password), salt, 100,000 rounds, 32 bytes), the MAC key
// HKDF-SHA256(k, salt, "DefusePHP|V2|KeyForAuthentication") and the encryption key
// HKDF-SHA256(k, salt, "DefusePHP|V2|KeyForEncryption"); the MAC covers everything
// before it.
//
// The key derivation is deliberately slow (tens of milliseconds of CPU): Parse is cheap
// and refuses what cannot be a ciphertext, so callers can bound the expensive part.
package phpencryption

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// Format constants of version 2 ciphertexts.
const (
	// Iterations is the PBKDF2 round count of password-based ciphertexts.
	Iterations = 100000
	headerSize = 4
	saltSize   = 32
	ivSize     = aes.BlockSize
	macSize    = sha256.Size
	keySize    = 32
	// minSize is a ciphertext of an empty plaintext.
	minSize = headerSize + saltSize + ivSize + macSize
	// MaxHexLength bounds what Parse accepts: league's refresh tokens are well under 1 KB
	// of plaintext; nothing longer is decoded.
	MaxHexLength = 8192

	authenticationInfo = "DefusePHP|V2|KeyForAuthentication"
	encryptionInfo     = "DefusePHP|V2|KeyForEncryption"
)

// version is the header of version 2 ciphertexts.
var version = [headerSize]byte{0xDE, 0xF5, 0x02, 0x00}

var (
	// ErrNotCiphertext means the text is not a version 2 ciphertext at all (not hex, too
	// short or long, another header); it is found without deriving a key.
	ErrNotCiphertext = errors.New("phpencryption: not a defuse/php-encryption v2 ciphertext")
	// ErrWrongKeyOrModified means the MAC does not check: another password, or a
	// ciphertext that was changed. The library's own message says the same.
	ErrWrongKeyOrModified = errors.New("phpencryption: wrong key or modified ciphertext")
)

// Ciphertext is a parsed version 2 ciphertext.
type Ciphertext struct {
	raw []byte // the whole binary ciphertext
}

// Parse decodes hex text into a ciphertext, or returns ErrNotCiphertext. It costs
// microseconds; no key is derived.
func Parse(text string) (*Ciphertext, error) {
	if len(text) > MaxHexLength || len(text) < 2*minSize {
		return nil, ErrNotCiphertext
	}
	raw, err := hex.DecodeString(text)
	if err != nil || [headerSize]byte(raw[:headerSize]) != version {
		return nil, ErrNotCiphertext
	}
	return &Ciphertext{raw: raw}, nil
}

// DecryptWithPassword derives the keys from password and the ciphertext's salt, checks
// the MAC in constant time and returns the plaintext, or ErrWrongKeyOrModified. This is
// the slow part: one PBKDF2 of Iterations rounds.
func (c *Ciphertext) DecryptWithPassword(password []byte) ([]byte, error) {
	salt := c.raw[headerSize : headerSize+saltSize]
	iv := c.raw[headerSize+saltSize : headerSize+saltSize+ivSize]
	body := c.raw[headerSize+saltSize+ivSize : len(c.raw)-macSize]
	mac := c.raw[len(c.raw)-macSize:]

	// The library pre-hashes the password so PBKDF2's input is always short.
	prehash := sha256.Sum256(password)
	prekey, err := pbkdf2.Key(sha256.New, string(prehash[:]), salt, Iterations, keySize)
	if err != nil {
		return nil, err
	}
	// Both HKDF calls reuse the salt, as the library does.
	akey, err := hkdf.Key(sha256.New, prekey, salt, authenticationInfo, keySize)
	if err != nil {
		return nil, err
	}
	h := hmac.New(sha256.New, akey)
	h.Write(c.raw[:len(c.raw)-macSize])
	if !hmac.Equal(h.Sum(nil), mac) {
		return nil, ErrWrongKeyOrModified
	}
	ekey, err := hkdf.Key(sha256.New, prekey, salt, encryptionInfo, keySize)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(ekey)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(body))
	cipher.NewCTR(block, iv).XORKeyStream(plain, body)
	return plain, nil
}
