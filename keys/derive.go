package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
)

// DeriveSecret returns 32 bytes derived from the signer's private key by HKDF-SHA-256
// (RFC 5869) for the purpose named by label: a secret every node holding the same key
// (the store's, or the same `keys` PEM) computes alike, without anything more to share
// or store. HKDF is one-way, so the secret reveals nothing of the key, and distinct
// labels give unrelated secrets. It changes when the key is rotated.
func (s *Signer) DeriveSecret(label string) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", s.kid, err)
	}
	return hkdf.Key(sha256.New, der, nil, "caddy-oauth "+label, 32)
}
