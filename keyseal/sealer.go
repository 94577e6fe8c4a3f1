// Package keyseal keeps the private signing keys in the store encrypted (AES-256-GCM)
// under a key the operator holds outside it (key_encryption_key, usually from the
// environment), so a copy of the database, a backup or a read-only SQL injection does not
// give away the keys that sign every token. It imports no Caddy.
package keyseal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/caddyoauth/caddy-oauth/store"
)

// prefix begins a sealed PrivatePEM: "sealed:v1:<key id>:<base64url(nonce || ciphertext)>".
// A PEM in the clear begins with "-----BEGIN", so the two cannot be confused.
const prefix = "sealed:v1:"

// KeySize is the length of a key encryption key: 32 bytes, AES-256.
const KeySize = 32

// ErrWrongKey is a sealed signing key that no configured key encryption key opens.
var ErrWrongKey = errors.New("key_encryption_key does not open it (it was encrypted with another key)")

// ErrNoKey is a sealed signing key read without any key encryption key configured.
var ErrNoKey = errors.New("it is encrypted and no key_encryption_key is configured")

// Sealer seals signing keys with its current key encryption key and opens what any of
// its keys sealed: the current one and those it replaced, kept during a rotation.
type Sealer struct {
	keys []sealKey // keys[0] seals
}

type sealKey struct {
	id   string // names the key in a sealed value, without revealing it
	aead cipher.AEAD
}

// ParseKey reads a key encryption key as the configuration gives it: the standard
// base64 of 32 bytes (`openssl rand -base64 32`), optionally after "base64:". The key is
// never part of an error.
func ParseKey(value string) ([]byte, error) {
	value = strings.TrimPrefix(strings.TrimSpace(value), "base64:")
	if value == "" {
		return nil, errors.New("empty (is the environment variable set?)")
	}
	key, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return nil, errors.New("not base64 (make one with: openssl rand -base64 32)")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d (make one with: openssl rand -base64 32)", len(key), KeySize)
	}
	return key, nil
}

// New builds a Sealer: current seals, current and previous open. Each key is KeySize
// bytes.
func New(current []byte, previous ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	for i, k := range append([][]byte{current}, previous...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("key encryption key #%d: %d bytes, want %d", i+1, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(append([]byte("caddy-oauth key encryption key id\x00"), k...))
		s.keys = append(s.keys, sealKey{id: hex.EncodeToString(sum[:8]), aead: aead})
	}
	return s, nil
}

// ID names the current key encryption key (a digest prefix, not the key).
func (s *Sealer) ID() string {
	if s == nil {
		return ""
	}
	return s.keys[0].id
}

// IsSealed reports whether a stored PrivatePEM is sealed.
func IsSealed(stored []byte) bool { return bytes.HasPrefix(stored, []byte(prefix)) }

// additionalData binds a sealed value to its key's id and algorithm, so it cannot be
// moved onto another key's record.
func additionalData(k *store.SigningKey) []byte {
	return []byte("caddy-oauth signing key\x00" + k.ID + "\x00" + k.Alg)
}

// Seal returns a copy of k with its PrivatePEM sealed by the current key.
func (s *Sealer) Seal(k *store.SigningKey) *store.SigningKey {
	c := *k
	key := s.keys[0]
	nonce := make([]byte, key.aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	sealed := key.aead.Seal(nonce, nonce, k.PrivatePEM, additionalData(k))
	c.PrivatePEM = []byte(prefix + key.id + ":" + base64.RawURLEncoding.EncodeToString(sealed))
	return &c
}

// Open returns a copy of k with its PrivatePEM in the clear, and whether the stored form
// should be sealed again by the current key (it is in the clear, or sealed by a previous
// key). A nil Sealer opens nothing: a sealed key is ErrNoKey, one in the clear is returned
// as it is.
func (s *Sealer) Open(k *store.SigningKey) (*store.SigningKey, bool, error) {
	if !IsSealed(k.PrivatePEM) {
		return k, s != nil, nil
	}
	if s == nil {
		return nil, false, ErrNoKey
	}
	id, body, ok := strings.Cut(string(k.PrivatePEM[len(prefix):]), ":")
	if !ok {
		return nil, false, errors.New("its sealed form is malformed")
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, false, errors.New("its sealed form is malformed")
	}
	for i, key := range s.keys {
		if key.id != id || len(raw) < key.aead.NonceSize() {
			continue
		}
		nonce, ct := raw[:key.aead.NonceSize()], raw[key.aead.NonceSize():]
		pem, err := key.aead.Open(nil, nonce, ct, additionalData(k))
		if err != nil {
			// The right key by its id, but the value was altered or moved to another record.
			return nil, false, errors.New("its sealed form does not authenticate (altered, or copied from another key)")
		}
		c := *k
		c.PrivatePEM = pem
		return &c, i > 0, nil
	}
	return nil, false, ErrWrongKey
}
