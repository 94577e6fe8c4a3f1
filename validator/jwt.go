package validator

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// DefaultLeeway is the clock skew allowed on exp and nbf when JWTOptions names none.
const DefaultLeeway = 30 * time.Second

// maxTokenSize bounds the work an attacker can ask for: real access tokens are around
// 1 KiB, and anything far larger is refused before any decoding.
const maxTokenSize = 16 << 10

// b64 is base64url without padding, strict so that each token has one encoding.
var b64 = base64.RawURLEncoding.Strict()

// JWTOptions configures a JWTVerifier.
type JWTOptions struct {
	// Keys supplies the verification keys; required.
	Keys *KeySource
	// Issuer must equal the token's iss; required unless Passport is set, because a JWKS
	// may be shared by several issuers and a token is only meaningful to the one that was
	// configured. A token that carries this issuer must also say it is an access token
	// (typ at+jwt, RFC 9068 §2.1), so an ID token or any other JWT the same keys sign
	// cannot stand in for one (RFC 8725 §3.11).
	Issuer string
	// Passport also accepts Laravel Passport's access tokens: tokens with no iss (which
	// league/oauth2-server never writes) whose typ is JWT, at+jwt or absent. Whether a
	// token came from Passport rests on the key alone, so Keys must hold only keys the
	// operator trusts to sign access tokens (Passport's oauth-public.key). A token that
	// does carry an iss must still equal Issuer and carry typ at+jwt; with Issuer unset,
	// such a token is refused. So one verifier serves both this server's tokens and
	// Passport's while an application moves from one to the other.
	Passport bool
	// Audiences, when non-empty, requires the token's aud to contain one of them.
	Audiences []string
	// Leeway is the clock skew allowed on exp and nbf. Zero means DefaultLeeway (30 s);
	// negative means none.
	Leeway time.Duration
	// Cache, if set, remembers verified tokens until they expire, from a token's second
	// sighting on (see TokenCache.SetRepeated).
	Cache *TokenCache
	// Now overrides the clock; for tests.
	Now func() time.Time
}

// JWTVerifier checks JWT access tokens (RFC 9068, and Passport's tokens) locally, by
// signature against a JWKS, then issuer, audience and time claims.
type JWTVerifier struct {
	keys      *KeySource
	issuer    string
	passport  bool
	audiences []string
	leeway    time.Duration
	cache     *TokenCache
	now       func() time.Time
	wallClock bool // now is time.Now
	// lastHeader is the last header segment decoded and what it held. A signer writes the
	// same header on every token (Passport: {"typ":"JWT","alg":"RS256"}), so the cold path
	// usually skips decoding it; an exact string match means the same bytes, which decode
	// the same. One entry: alternating headers only cost the decode they would anyway.
	lastHeader atomic.Pointer[headerMemo]
}

// headerMemo is a header segment and its decoded form.
type headerMemo struct {
	seg string
	hdr jwsHeader
}

// NewJWTVerifier checks opts and builds a verifier.
func NewJWTVerifier(opts JWTOptions) (*JWTVerifier, error) {
	if opts.Keys == nil {
		return nil, errors.New("jwt verifier: no key source")
	}
	if opts.Issuer == "" && !opts.Passport {
		return nil, errors.New("jwt verifier: issuer is required (or Passport, for Laravel Passport's tokens, which carry none)")
	}
	v := &JWTVerifier{
		keys:      opts.Keys,
		issuer:    opts.Issuer,
		passport:  opts.Passport,
		audiences: append([]string(nil), opts.Audiences...),
		leeway:    opts.Leeway,
		cache:     opts.Cache,
		now:       opts.Now,
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	} else if v.leeway < 0 {
		v.leeway = 0
	}
	if v.now == nil {
		v.now, v.wallClock = time.Now, true
	}
	return v, nil
}

// jwsHeader is the part of the protected header the verifier reads. A struct of three
// strings decodes much cheaper than jws.Parse's generic header object.
type jwsHeader struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid"`
	Typ  string   `json:"typ"`
	Crit []string `json:"crit"`
}

// Verify returns the identity of a valid token. Every failure is a *Refusal: InvalidToken
// for a token that is not acceptable, Unavailable when its key could not be fetched.
// Descriptions never contain the token.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (*Identity, error) {
	now := v.now()
	var h1, h2 uint64
	// The cache runs on the wall clock; the verifier's own reading serves unless a test
	// clock replaced it: one clock read a request.
	wall := now
	if !v.wallClock {
		wall = time.Now()
	}
	if v.cache != nil {
		h1, h2 = tokenHash(token)
		if id, ok := v.cache.getHashed(h1, h2, wall); ok {
			// The cache's TTL is only a bound: expiry, issuer and audience are re-checked
			// on every hit, so a stale entry or a cache shared with another verifier can
			// never widen what this verifier accepts.
			if err := v.checkIdentity(id, now); err != nil {
				v.cache.deleteHashed(h1, h2)
				return nil, err
			}
			return id, nil
		}
	}
	id, err := v.verify(ctx, token, now)
	if err != nil {
		return nil, err
	}
	// Cached from its second sighting on (TokenCache.SetRepeated), never past exp + leeway:
	// a token used once is not worth a cache entry.
	if v.cache != nil {
		v.cache.setRepeatedHashed(h1, h2, id, id.expiresWithin(now, v.leeway), wall)
	}
	return id, nil
}

func (v *JWTVerifier) verify(ctx context.Context, token string, now time.Time) (*Identity, error) {
	if len(token) > maxTokenSize {
		return nil, invalidToken("token too large", nil)
	}
	// Compact JWS: exactly three segments. A JWE (five) or anything else is refused here.
	dot1 := strings.IndexByte(token, '.')
	dot2 := strings.LastIndexByte(token, '.')
	if dot1 <= 0 || dot2 == dot1 || strings.IndexByte(token[dot1+1:dot2], '.') >= 0 {
		return nil, invalidToken("malformed token", nil)
	}
	hdrSeg, payloadSeg, sigSeg := token[:dot1], token[dot1+1:dot2], token[dot2+1:]
	if payloadSeg == "" {
		return nil, invalidToken("malformed token", nil)
	}
	if sigSeg == "" {
		return nil, invalidToken("unsigned token", nil)
	}

	hdr, err := v.header(hdrSeg)
	if err != nil {
		return nil, err
	}

	candidates, err := v.keys.lookup(ctx, hdr.Kid, hdr.Alg)
	if err != nil {
		var fe *FetchError
		switch {
		case errors.Is(err, ErrKeysNotLoaded):
			return nil, RefuseUnavailable(KeysPendingRetryAfter, err)
		case errors.As(err, &fe), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			// We could not learn whether the key exists: neither accept nor call the token
			// bad.
			return nil, RefuseUnavailable(v.keys.minGap, err)
		case errors.Is(err, ErrAlgorithmMismatch):
			return nil, invalidToken("algorithm not allowed for the signing key", err)
		}
		return nil, invalidToken("unknown signing key", err)
	}

	sig, err := b64.DecodeString(sigSeg)
	if err != nil {
		return nil, invalidToken("malformed token signature", err)
	}
	// The signing input is the token up to the last dot: verified as sent, with no
	// re-encoding. The verifier is jwx's for the key's pinned algorithm. A token with a
	// kid has one candidate; one without (Passport's) is tried against each key of its alg.
	signed := readOnlyBytes(token[:dot2])
	for i, e := range candidates {
		err = e.verifier.Verify(signed, sig, e.raw)
		if err == nil {
			break
		}
		if i == len(candidates)-1 {
			return nil, invalidToken("invalid signature", err)
		}
	}

	payload, err := b64.DecodeString(payloadSeg)
	if err != nil {
		return nil, invalidToken("malformed token payload", err)
	}
	return v.claimsIdentity(payload, hdr.Typ, now)
}

// claimsIdentity decodes a verified payload and applies the claim rules: issuer, typ
// for that issuer, audience, exp and nbf.
func (v *JWTVerifier) claimsIdentity(payload []byte, typ string, now time.Time) (*Identity, error) {
	var c claimSet
	if err := decodeClaims(payload, &c); err != nil {
		return nil, invalidToken("malformed token claims", err)
	}
	if !v.issuerOK(string(c.Iss)) {
		if c.Iss == "" {
			return nil, invalidToken("token has no issuer", nil)
		}
		return nil, invalidToken("issuer mismatch", nil)
	}
	// Token confusion (RFC 9068 §4, RFC 8725 §3.11): a token of a configured issuer is an
	// access token only if its header says so. JWT or no typ is Passport's, and only a
	// token without iss can be one of Passport's (issuerOK let it through in Passport
	// mode alone).
	if c.Iss != "" && !atJWT(typ) {
		return nil, invalidToken("not an access token: typ must be at+jwt", nil)
	}
	if c.Cnf.set && !c.Cnf.checkable() {
		return nil, uncheckableBinding
	}
	if !v.audienceOK(c.Aud) {
		return nil, invalidToken("audience mismatch", nil)
	}
	if !c.Exp.set {
		return nil, invalidToken("token has no expiry", nil)
	}
	if !now.Before(c.Exp.time().Add(v.leeway)) {
		return nil, invalidToken("token expired", nil)
	}
	if c.Nbf.set && now.Add(v.leeway).Before(c.Nbf.time()) {
		return nil, invalidToken("token not yet valid", nil)
	}
	return c.identity(payload), nil
}

// header decodes and checks a protected header segment: a signature algorithm, a typ an
// access token may carry, no crit.
func (v *JWTVerifier) header(hdrSeg string) (jwsHeader, error) {
	var hdr jwsHeader
	if m := v.lastHeader.Load(); m != nil && m.seg == hdrSeg {
		hdr = m.hdr
	} else {
		hdrJSON, err := b64.DecodeString(hdrSeg)
		if err == nil {
			err = json.Unmarshal(hdrJSON, &hdr)
		}
		if err == nil && caseVariantMember(hdrJSON, headerNames) {
			err = errCaseVariant
		}
		if err != nil {
			return hdr, invalidToken("malformed token header", err)
		}
		// Kept whether or not the checks below pass: they run again on every use.
		v.lastHeader.Store(&headerMemo{seg: strings.Clone(hdrSeg), hdr: hdr})
	}
	if !signatureAlg(hdr.Alg) {
		if hdr.Alg == "" || strings.EqualFold(hdr.Alg, "none") {
			return hdr, invalidToken("unsigned token", nil)
		}
		return hdr, invalidToken("unsupported algorithm", nil)
	}
	// A typ no access token carries is refused before any key lookup; whether JWT or no
	// typ will do depends on the issuer, which is read after the signature.
	if hdr.Typ != "" && !atJWT(hdr.Typ) && !strings.EqualFold(hdr.Typ, "JWT") {
		return hdr, invalidToken("not an access token", nil)
	}
	// RFC 7515 §4.1.11: extensions we do not understand must not be ignored. We
	// understand none.
	if hdr.Crit != nil {
		return hdr, invalidToken("unsupported critical header", nil)
	}
	return hdr, nil
}

// readOnlyBytes is s as a byte slice without a copy, for the signature check, which only
// reads its input (it hashes it): copying the ~1 KiB signing input of every new token
// cost an allocation and a copy for nothing. The slice must never be written.
func readOnlyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// checkIdentity repeats the claim checks on a cached identity.
func (v *JWTVerifier) checkIdentity(id *Identity, now time.Time) error {
	if id.expiresWithin(now, v.leeway) <= 0 {
		return invalidToken("token expired", nil)
	}
	// The typ was checked when the token was first verified; the cache is keyed by the
	// whole token, header included, so it cannot have changed.
	if !v.issuerOK(id.Issuer) {
		return invalidToken("issuer mismatch", nil)
	}
	if !v.audienceOK(id.Audience) {
		return invalidToken("audience mismatch", nil)
	}
	return nil
}

// issuerOK reports whether a token with this iss may pass: one naming the configured
// issuer, or, in Passport mode only, one naming none.
func (v *JWTVerifier) issuerOK(iss string) bool {
	if iss == "" {
		return v.passport
	}
	return iss == v.issuer
}

// audienceOK reports whether aud names one of the required audiences, or none is required.
func (v *JWTVerifier) audienceOK(aud []string) bool {
	return len(v.audiences) == 0 || audienceContains(v.audiences, aud)
}

// signatureAlg reports whether alg is an asymmetric JWS algorithm a KeySource can pin.
// Anything else (none, HS*, unknown) is refused before any key lookup, so garbage tokens
// cannot trigger JWKS refetches.
func signatureAlg(alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
		return true
	}
	return false
}

// atJWT reports whether typ is RFC 9068's access token type, at+jwt, with or without the
// application/ prefix, in any case (media types are case-insensitive, RFC 7515 §4.1.9).
func atJWT(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}
