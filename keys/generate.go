// Package keys makes, loads and holds the server's signing keys: the current private key
// that signs access tokens and the public keys published in the JWKS. Follow keeps a
// ring in step with the store, so a rotation made elsewhere reaches every node.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Supported signing algorithms.
const (
	ES256 = "ES256"
	RS256 = "RS256"
	EdDSA = "EdDSA"
)

// IDTokenAlg signs ID tokens: RS256, which OpenID Connect Core §15.1 requires every
// provider to support and relying parties assume unless told otherwise.
const IDTokenAlg = RS256

// ValidAlg reports whether alg is a signing algorithm the server can use.
func ValidAlg(alg string) bool { return alg == ES256 || alg == RS256 || alg == EdDSA }

// Generate makes a new private key for alg and returns it as a store record whose kid is
// the RFC 7638 thumbprint of the public key.
func Generate(alg string, now time.Time) (*store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported signing_alg %q (use ES256, RS256 or EdDSA)", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", alg, err)
	}
	return Record(priv, alg, now)
}

// Record wraps a private key into a store record, computing its kid.
func Record(priv crypto.Signer, alg string, now time.Time) (*store.SigningKey, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	kid, err := Thumbprint(priv.Public())
	if err != nil {
		return nil, err
	}
	return &store.SigningKey{
		ID:         kid,
		Alg:        alg,
		PrivatePEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		CreatedAt:  now.UTC(),
	}, nil
}

// Thumbprint returns the base64url RFC 7638 SHA-256 thumbprint of a public key, used as kid.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return "", fmt.Errorf("wrapping public key: %w", err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("computing key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// ParsePrivatePEM decodes a PEM private key (PKCS#8, PKCS#1 RSA or SEC 1 EC).
func ParsePrivatePEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		return s, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, PKCS#1 or SEC 1 private key")
}

// ParsePublicPEM decodes a PEM public key: SubjectPublicKeyInfo ("PUBLIC KEY", what
// Passport's passport:keys writes) or PKCS#1 ("RSA PUBLIC KEY").
func ParsePublicPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if k, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKIX or PKCS#1 public key")
}

// AlgFor returns the signing algorithm that goes with a private key's type.
func AlgFor(priv crypto.Signer) (string, error) {
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("EC keys must use curve P-256 for ES256, got %s", k.Curve.Params().Name)
		}
		return ES256, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("RSA keys must have at least 2048 bits, got %d", k.N.BitLen())
		}
		return RS256, nil
	case ed25519.PrivateKey:
		return EdDSA, nil
	}
	return "", fmt.Errorf("unsupported private key type %T", priv)
}
