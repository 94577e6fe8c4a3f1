package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"sync"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// maxKeys bounds the cache of parsed proof headers: past it the cache starts again
// empty, so clients with ever-new keys cannot grow it without limit.
const maxKeys = 4096

// minRSABits is the smallest RSA key a proof may use (RFC 7518 §3.3 asks for 2048).
const minRSABits = 2048

// proofKey is a parsed, checked proof header: its key, how to verify with it, and the
// key's thumbprint.
type proofKey struct {
	raw      any // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
	verifier jws.Verifier
	jkt      string
}

// keyCache maps a proof's header segment to its parsed key. A client signs every proof
// with one key and the same header, so after its first proof the header costs a map
// lookup; a header that fails its checks is not kept.
type keyCache struct {
	mu sync.RWMutex
	m  map[string]*proofKey
}

func (c *keyCache) get(hdrSeg string) (*proofKey, *Error) {
	c.mu.RLock()
	k, ok := c.m[hdrSeg]
	c.mu.RUnlock()
	if ok {
		return k, nil
	}
	k, e := parseHeader(hdrSeg)
	if e != nil {
		return nil, e
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxKeys {
		c.m = make(map[string]*proofKey)
	}
	c.m[hdrSeg] = k
	c.mu.Unlock()
	return k, nil
}

// proofHeader is the JOSE header of a proof (RFC 9449 §4.2).
type proofHeader struct {
	Typ  string          `json:"typ"`
	Alg  string          `json:"alg"`
	JWK  json.RawMessage `json:"jwk"`
	Crit json.RawMessage `json:"crit"`
}

// parseHeader applies RFC 9449 §4.3 items 4-6 to a header segment: typ dpop+jwt, an
// asymmetric alg, a public jwk of the alg's key type; and no crit, since none of the
// extensions it could name is understood here.
func parseHeader(seg string) (*proofKey, *Error) {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, invalid("the DPoP proof's header is not base64url")
	}
	var h proofHeader
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, invalid("the DPoP proof's header is not a JSON object of the right types")
	}
	switch {
	case h.Typ != TokenType:
		return nil, invalid("the DPoP proof's typ must be dpop+jwt")
	case h.Crit != nil:
		return nil, invalid("the DPoP proof's header names critical extensions")
	case len(h.JWK) == 0 || string(h.JWK) == "null":
		return nil, invalid("the DPoP proof's header has no jwk")
	}
	key, err := jwk.ParseKey(h.JWK)
	if err != nil {
		return nil, invalid("the DPoP proof's jwk is not a JSON Web Key")
	}
	var raw any
	switch key.(type) {
	case jwk.ECDSAPublicKey, jwk.RSAPublicKey, jwk.OKPPublicKey:
		if err := key.Raw(&raw); err != nil {
			return nil, invalid("the DPoP proof's jwk is not a usable public key")
		}
	default:
		// A private or symmetric key has no place in a header anyone can read.
		return nil, invalid("the DPoP proof's jwk must be a public key")
	}
	if !algFits(h.Alg, raw) {
		return nil, invalid("the DPoP proof's alg is not an asymmetric algorithm of its jwk's key type")
	}
	verifier, err := jws.NewVerifier(jwa.SignatureAlgorithm(h.Alg))
	if err != nil {
		return nil, invalid("the DPoP proof's alg is not supported")
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, invalid("the DPoP proof's jwk has no thumbprint")
	}
	return &proofKey{raw: raw, verifier: verifier, jkt: base64.RawURLEncoding.EncodeToString(tp)}, nil
}

// algFits pins each algorithm to its key type (and curve), so a key cannot be used
// with an algorithm it was not made for (RFC 8725 §3.1).
func algFits(alg string, key any) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return k.N.BitLen() >= minRSABits
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
