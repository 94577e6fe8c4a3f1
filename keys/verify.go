package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// ErrNotOurs is returned by Ring.Verify for a token this ring did not sign: unknown
// header (kid, alg or typ), malformed, or a bad signature.
var ErrNotOurs = errors.New("keys: not a token signed by this server")

// verifyKey checks signatures of one published key.
type verifyKey struct {
	kid string
	alg string
	pub crypto.PublicKey
}

// Token types (the typ header) the ring's signers write.
const (
	// TypAccessToken is RFC 9068's access token type; guards require it.
	TypAccessToken = "at+jwt"
	// TypIDToken is the type of ID tokens, plain JWT as OpenID Connect writes them; an
	// access-token check refuses it (RFC 8725 §3.11).
	TypIDToken = "JWT"
)

// protectedHeader returns the base64url protected header every token of type typ signed
// by key kid carries. The signer writes exactly these bytes, so a token of ours has
// exactly this first segment, and anything else is not ours.
func protectedHeader(alg, typ, kid string) (string, error) {
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{alg, typ, kid})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(hdr), nil
}

// newVerifyKey prepares the verification of tokens signed with pub.
func newVerifyKey(kid, alg string, pub crypto.PublicKey) (*verifyKey, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("signing key %s: unsupported public key %T", kid, pub)
	}
	return &verifyKey{kid: kid, alg: alg, pub: pub}, nil
}

// verify checks sig over signed with the key's algorithm.
func (k *verifyKey) verify(signed, sig []byte) bool {
	switch pub := k.pub.(type) {
	case *ecdsa.PublicKey:
		// JWS ES256 signatures are r||s, each 32 bytes (RFC 7518 §3.4).
		if len(sig) != 64 {
			return false
		}
		h := sha256.Sum256(signed)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, h[:], r, s)
	case *rsa.PublicKey:
		h := sha256.Sum256(signed)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
	case ed25519.PublicKey:
		return ed25519.Verify(pub, signed, sig)
	}
	return false
}

// Verify checks that token is a compact JWS signed by one of the ring's published keys
// (the current one or one retired within the retention) and returns its payload and the
// kid that signed it. It checks only the signature: the caller checks the claims.
//
// It needs no JOSE parsing: the ring knows the exact header each of its keys writes, so
// the header segment selects the key, and an algorithm or key id other than ours (alg
// none, an HMAC trick, a foreign kid) simply finds no key.
func (r *Ring) Verify(token string) (payload []byte, kid string, err error) {
	st := r.state.Load()
	if st == nil {
		return nil, "", ErrNotOurs
	}
	return st.verify(st.verifiers, token, true)
}

// VerifyIDToken checks that token is an ID token signed by one of the ring's published
// ID-token keys and returns its payload (for an id_token_hint); the caller checks the
// claims. An access token is not an ID token here, as an ID token is not an access
// token to Verify.
func (r *Ring) VerifyIDToken(token string) (payload []byte, err error) {
	st := r.state.Load()
	if st == nil {
		return nil, ErrNotOurs
	}
	payload, _, err = st.verify(st.idVerifiers, token, false)
	return payload, err
}

// verify checks token's signature with the key its header selects from verifiers
// (kid-less Passport tokens too, when kidless is set) and returns its payload.
func (st *ringState) verify(verifiers map[string]*verifyKey, token string, kidless bool) (payload []byte, kid string, err error) {
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first <= 0 || last == first {
		return nil, "", ErrNotOurs
	}
	sig, err := base64.RawURLEncoding.DecodeString(token[last+1:])
	if err != nil {
		return nil, "", ErrNotOurs
	}
	k := verifiers[token[:first]]
	if k == nil && kidless {
		k = st.kidless(token[:first], []byte(token[:last]), sig)
	}
	if k == nil || !k.verify([]byte(token[:last]), sig) {
		return nil, "", ErrNotOurs
	}
	payload, err = base64.RawURLEncoding.DecodeString(token[first+1 : last])
	if err != nil {
		return nil, "", ErrNotOurs
	}
	return payload, k.kid, nil
}

// kidless finds the RS256 key that signed a token whose header names no key, as Laravel
// Passport (league/oauth2-server) writes them: {"typ":"JWT","alg":"RS256"}, sometimes
// with a jti. Only that exact shape is looked at, and only RS256 keys are tried, so no
// other algorithm, no embedded or referenced key (jwk, jku, x5u) and no crit header can
// select a key; the signature still has to verify with one of ours.
func (st *ringState) kidless(header string, signed, sig []byte) *verifyKey {
	if len(st.rsa) == 0 || len(header) > 512 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return nil
	}
	var fields map[string]any
	if json.Unmarshal(raw, &fields) != nil || fields["alg"] != RS256 {
		return nil
	}
	for name, v := range fields {
		switch name {
		case "alg":
		case "typ":
			if v != "JWT" {
				return nil
			}
		case "jti":
			if _, ok := v.(string); !ok {
				return nil
			}
		default:
			return nil
		}
	}
	for _, k := range st.rsa {
		if k.verify(signed, sig) {
			return k
		}
	}
	return nil
}
