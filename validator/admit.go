package validator

import (
	"crypto"
	"strings"
)

// Admit caches a token its caller has just signed, so that the token's first use skips
// the signature check: an oauth_server tells the guards of its own process about every
// access token it records (the multi-node equivalent would be an issuance feed; see the
// README's performance notes).
//
// The token is admitted only if this verifier would accept it: its header passes, its kid
// resolves in this verifier's key set as loaded (no fetch) to the very public key that
// signed it (signer), and its claims pass the issuer, typ, audience and time rules.
// Nothing is taken from the caller but the token and its key. It is then cached as if
// seen twice; every per-request rule (expiry, revocation, subject, provider, scopes)
// still runs on each use. It reports whether the token was admitted.
func (v *JWTVerifier) Admit(token string, signer crypto.PublicKey) bool {
	if v.cache == nil || len(token) > maxTokenSize {
		return false
	}
	ks := v.keys.keys.Load()
	if ks == nil {
		return false
	}
	dot1 := strings.IndexByte(token, '.')
	dot2 := strings.LastIndexByte(token, '.')
	if dot1 <= 0 || dot2 == dot1 {
		return false
	}
	hdr, err := v.header(token[:dot1])
	if err != nil {
		return false
	}
	// This server's tokens always name their key: a kid-less one is left to the full check.
	if hdr.Kid == "" {
		return false
	}
	list, err := ks.find(hdr.Kid, hdr.Alg)
	if err != nil || len(list) != 1 {
		return false
	}
	pub, ok := list[0].raw.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(signer) {
		return false
	}
	payload, err := b64.DecodeString(token[dot1+1 : dot2])
	if err != nil {
		return false
	}
	now := v.now()
	id, err := v.claimsIdentity(payload, hdr.Typ, now)
	if err != nil {
		return false
	}
	v.cache.Set(token, id, id.expiresWithin(now, v.leeway))
	return true
}
