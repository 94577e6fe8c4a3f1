package dpop

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// DefaultNonceLife is how long a nonce is accepted after it was issued unless told
// otherwise.
const DefaultNonceLife = 5 * time.Minute

// nonceMACLen is the bytes of HMAC-SHA-256 a nonce keeps: 128 bits cannot be guessed.
const nonceMACLen = 16

// Nonces issues and checks server-provided nonces (RFC 9449 §8, §9). A nonce is its
// issue time and a MAC of it under the key, so checking one needs no memory: nodes that
// share the key accept each other's nonces. Safe for concurrent use.
type Nonces struct {
	key  []byte
	life time.Duration
}

// NewNonces returns nonces MACed with key (at least 32 bytes; nil: a random key, good
// for this process only) that are accepted for life (zero: DefaultNonceLife).
func NewNonces(key []byte, life time.Duration) (*Nonces, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	if len(key) < 32 {
		return nil, errors.New("dpop: a nonce key needs at least 32 bytes")
	}
	if life <= 0 {
		life = DefaultNonceLife
	}
	return &Nonces{key: key, life: life}, nil
}

// Issue returns a nonce issued at now.
func (n *Nonces) Issue(now time.Time) string {
	var b [8 + nonceMACLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.Unix()))
	copy(b[8:], n.mac(b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Valid reports whether nonce was issued with this key no longer than life before now
// (and not after now, beyond a second of clock skew between nodes).
func (n *Nonces) Valid(nonce string, now time.Time) bool {
	var b [8 + nonceMACLen]byte
	if base64.RawURLEncoding.DecodedLen(len(nonce)) != len(b) {
		return false
	}
	if _, err := base64.RawURLEncoding.Decode(b[:], []byte(nonce)); err != nil {
		return false
	}
	if !hmac.Equal(b[8:], n.mac(b[:8])) {
		return false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	return !issued.After(now.Add(time.Second)) && now.Sub(issued) <= n.life
}

func (n *Nonces) mac(msg []byte) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write(msg)
	return m.Sum(nil)[:nonceMACLen]
}
