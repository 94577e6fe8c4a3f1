// Package dpoptest signs DPoP proofs (RFC 9449 §4.2) for tests, as a client library
// would, with jwx. It does not import the dpop package: the proofs, their ath and the
// key's thumbprint are computed apart from the code under test, and dpop's own tests can
// use it without an import cycle.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// tokenType is the typ header of a DPoP proof (RFC 9449 §4.2), written here rather than
// taken from the dpop package so that a wrong constant there fails its tests.
const tokenType = "dpop+jwt"

// Key is a client's DPoP key pair.
type Key struct {
	// Alg is the algorithm proofs are signed with.
	Alg jwa.SignatureAlgorithm
	// Private signs the proofs.
	Private crypto.Signer
	// Public is the public key as a JWK, put in each proof's jwk header.
	Public jwk.Key
	// JKT is Public's RFC 7638 SHA-256 thumbprint, base64url: what the cnf.jkt of a
	// token bound to the key must be.
	JKT string
}

// NewKey generates an ES256 (P-256) key.
func NewKey(t testing.TB) *Key {
	t.Helper()
	return NewKeyAlg(t, jwa.ES256)
}

// NewKeyAlg generates a key for alg: ES256, ES384, PS256, RS256 (RSA 2048 bits) or EdDSA
// (Ed25519).
func NewKeyAlg(t testing.TB, alg jwa.SignatureAlgorithm) *Key {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jwa.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwa.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jwa.PS256, jwa.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jwa.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("dpoptest: no key generator for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return KeyOf(t, alg, priv)
}

// KeyOf is the key that signs with priv under alg, for keys NewKeyAlg does not make
// (a too-small RSA key, say).
func KeyOf(t testing.TB, alg jwa.SignatureAlgorithm, priv crypto.Signer) *Key {
	t.Helper()
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Alg: alg, Private: priv, Public: pub, JKT: base64.RawURLEncoding.EncodeToString(tp)}
}

// Sign signs claims as a JWS with the protected header fields typ dpop+jwt and jwk (the
// public key), changed by header: a value replaces a field, nil removes it. Nil claims
// sign the payload null.
func (k *Key) Sign(t testing.TB, claims, header map[string]any) string {
	t.Helper()
	fields := map[string]any{"typ": tokenType, "jwk": k.Public}
	for name, v := range header {
		fields[name] = v
	}
	h := jws.NewHeaders()
	for name, v := range fields {
		if v == nil {
			continue
		}
		if err := h.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.Sign(payload, jws.WithKey(k.Alg, k.Private, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// Proof signs the proof for a method request of htu issued at iat, going with token (its
// ath; none when token is empty, as at a token endpoint), with a jti of its own; changes
// override claims, a nil value removes one.
func (k *Key) Proof(t testing.TB, method, htu, token string, iat time.Time, changes map[string]any) string {
	t.Helper()
	return k.Sign(t, Claims(method, htu, token, iat, changes), nil)
}

// Claims are the claims of a proof as Proof makes them: a new jti starting "jti-", htm
// method, htu, iat, and ath of token when token is not empty; changes override them, a
// nil value removes one.
func Claims(method, htu, token string, iat time.Time, changes map[string]any) map[string]any {
	c := map[string]any{"jti": "jti-" + rand.Text(), "htm": method, "htu": htu, "iat": iat.Unix()}
	if token != "" {
		c["ath"] = ATH(token)
	}
	for name, v := range changes {
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
	}
	return c
}

// ATH is the ath claim for token (RFC 9449 §4.2): the base64url SHA-256 of its ASCII bytes.
func ATH(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
