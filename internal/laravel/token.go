package laravel

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"strconv"
	"strings"
	"time"
)

// KeyPair is Passport's key pair (`php artisan passport:keys`): RSA 4096 by default,
// written as storage/oauth-private.key and storage/oauth-public.key.
type KeyPair struct {
	Private *rsa.PrivateKey
}

// NewKeyPair makes an RSA key pair of the given size (Passport: 4096; tests may use 2048).
func NewKeyPair(bits int) (*KeyPair, error) {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Private: k}, nil
}

// PublicKeyPEM is oauth-public.key: an SPKI "PUBLIC KEY" block.
func (k *KeyPair) PublicKeyPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(&k.Private.PublicKey)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// PrivateKeyPKCS1PEM is oauth-private.key as phpseclib writes it ("RSA PRIVATE KEY").
func (k *KeyPair) PrivateKeyPKCS1PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.Private)})
}

// PrivateKeyPKCS8PEM is oauth-private.key as openssl writes it ("PRIVATE KEY").
func (k *KeyPair) PrivateKeyPKCS8PEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// AccessToken is what league/oauth2-server puts in a Passport access token.
type AccessToken struct {
	// ID is the jti and the oauth_access_tokens.id: 80 hex characters (NewTokenID).
	ID string
	// ClientID is the aud (Passport's oauth_clients.id, an integer or a UUID, as a string).
	ClientID string
	// UserID is the sub; empty for a client credentials token.
	UserID string
	// Scopes is the `scopes` array (["*"] for a personal token with every scope).
	Scopes []string
	// IssuedAt is iat and nbf; ExpiresAt is exp. Sub-second parts are kept, as
	// lcobucci/jwt writes them (a float with microseconds).
	IssuedAt, ExpiresAt time.Time
}

// NewTokenID is a Passport token id: bin2hex(random_bytes(40)).
func NewTokenID() string {
	var b [40]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// Mint signs t as league/oauth2-server 8 with lcobucci/jwt 4 does: header
// {"typ":"JWT","alg":"RS256"} (no kid), claims in the builder's order aud, jti, iat, nbf,
// exp, sub, scopes; a single audience as a string; dates as integers, or floats with
// microseconds when they have a fraction; JSON with unescaped slashes.
func (k *KeyPair) Mint(t AccessToken) string {
	scopes, _ := json.Marshal(t.Scopes)
	if t.Scopes == nil {
		scopes = []byte("[]")
	}
	var b strings.Builder
	b.WriteString(`{"aud":`)
	b.WriteString(jsonString(t.ClientID))
	b.WriteString(`,"jti":`)
	b.WriteString(jsonString(t.ID))
	b.WriteString(`,"iat":`)
	b.WriteString(numericDate(t.IssuedAt))
	b.WriteString(`,"nbf":`)
	b.WriteString(numericDate(t.IssuedAt))
	b.WriteString(`,"exp":`)
	b.WriteString(numericDate(t.ExpiresAt))
	b.WriteString(`,"sub":`)
	b.WriteString(jsonString(t.UserID))
	b.WriteString(`,"scopes":`)
	b.Write(scopes)
	b.WriteString(`}`)
	return k.SignCompact(`{"typ":"JWT","alg":"RS256"}`, b.String())
}

// SignCompact signs the given header and payload JSON with RS256 as a compact JWS.
func (k *KeyPair) SignCompact(header, payload string) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.Private, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

// numericDate is lcobucci/jwt's MicrosecondBasedDateConversion: whole seconds as an
// integer, otherwise seconds.microseconds as a float.
func numericDate(t time.Time) string {
	us := t.Nanosecond() / 1000
	if us == 0 {
		return strconv.FormatInt(t.Unix(), 10)
	}
	s := strconv.FormatInt(t.Unix(), 10) + "." + strconv.Itoa(1_000_000 + us)[1:]
	return strings.TrimRight(s, "0")
}

// jsonString encodes s as json_encode does with JSON_UNESCAPED_SLASHES.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return strings.ReplaceAll(string(b), `\/`, `/`)
}
