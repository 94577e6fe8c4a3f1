package dpop

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// Algorithms are the JWS algorithms a proof may be signed with, for
// dpop_signing_alg_values_supported: asymmetric ones only (RFC 9449 §4.2), each pinned to
// its key type (keys.go).
var Algorithms = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}

// TokenType is the typ header of a DPoP proof (RFC 9449 §4.2).
const TokenType = "dpop+jwt"

// DefaultWindow is how far a proof's iat may be from the verifier's clock, either way,
// unless Options say otherwise: a proof is good for about a minute, and a client whose
// clock is off by less than that needs no nonce to be let in.
const DefaultWindow = time.Minute

// maxProofLen bounds the work an oversized header can cause; real proofs with an RSA
// 4096 key stay under 2 KiB.
const maxProofLen = 8 << 10

// maxJTILen bounds the jti, which the replay cache digests anyway.
const maxJTILen = 256

// Options configure a Verifier.
type Options struct {
	// Window is how far a proof's iat may be from now, into the past or the future.
	// Zero: DefaultWindow.
	Window time.Duration
}

// Verifier checks DPoP proofs. It keeps the keys of the proofs it saw, parsed, so a
// client sending proof after proof with one key costs one signature check each. Safe for
// concurrent use.
type Verifier struct {
	window time.Duration
	keys   keyCache
}

// NewVerifier returns a Verifier with opts.
func NewVerifier(opts Options) *Verifier {
	w := opts.Window
	if w <= 0 {
		w = DefaultWindow
	}
	return &Verifier{window: w}
}

// Window is how far a proof's iat may be from now; a ReplayCache must remember each
// proof at least this long after its iat.
func (v *Verifier) Window() time.Duration { return v.window }

// Request is what a proof must match: the request it came with.
type Request struct {
	// Method is the request's HTTP method; the proof's htm must equal it.
	Method string
	// URL is the request's URL as the client addressed it, normalized (RequestURL or
	// NormalizeURL); the proof's htu, normalized, must equal it.
	URL string
	// AccessToken, when not empty, is the access token the proof goes with: the proof's
	// ath must be its hash (RFC 9449 §4.3 item 11). Empty at the token endpoint.
	AccessToken string
	// Nonce, when not nil, says whether a nonce is one the server issued and still
	// accepts; a proof without a nonce, or with one it refuses, fails with CodeUseNonce.
	Nonce func(nonce string) bool
	// Now is the current time.
	Now time.Time
}

// Proof is a verified proof.
type Proof struct {
	// JKT is the base64url SHA-256 JWK thumbprint (RFC 7638) of the proof's key: the
	// cnf.jkt a token bound to this key carries.
	JKT string
	// ID is the proof's jti, for the replay check.
	ID string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
}

// proofClaims are the claims of RFC 9449 §4.2 a proof carries.
type proofClaims struct {
	ID     string   `json:"jti"`
	Method string   `json:"htm"`
	URL    string   `json:"htu"`
	Issued *float64 `json:"iat"`
	ATHash string   `json:"ath"`
	Nonce  string   `json:"nonce"`
}

// Verify checks proof (the DPoP header's value) against req: RFC 9449 §4.3 items 2-12,
// all but the replay check (ReplayCache.Use, with the returned Proof). Errors are
// *Error.
func (v *Verifier) Verify(proof string, req *Request) (*Proof, error) {
	if len(proof) > maxProofLen {
		return nil, invalid("the DPoP proof is too long")
	}
	hdrSeg, rest, ok := strings.Cut(proof, ".")
	if !ok {
		return nil, invalid("the DPoP proof is not a compact JWS")
	}
	payloadSeg, sigSeg, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(sigSeg, '.') >= 0 {
		return nil, invalid("the DPoP proof is not a compact JWS")
	}
	key, e := v.keys.get(hdrSeg)
	if e != nil {
		return nil, e
	}
	sig, err := base64.RawURLEncoding.DecodeString(sigSeg)
	if err != nil {
		return nil, invalid("the DPoP proof's signature is not base64url")
	}
	if err := key.verifier.Verify([]byte(proof[:len(hdrSeg)+1+len(payloadSeg)]), sig, key.raw); err != nil {
		return nil, invalid("the DPoP proof's signature does not verify with its jwk")
	}
	payload, err := base64.RawURLEncoding.DecodeString(payloadSeg)
	if err != nil {
		return nil, invalid("the DPoP proof's payload is not base64url")
	}
	var c proofClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, invalid("the DPoP proof's claims are not a JSON object of the right types")
	}
	iat, e := v.checkClaims(&c, req)
	if e != nil {
		return nil, e
	}
	return &Proof{JKT: key.jkt, ID: c.ID, IssuedAt: iat}, nil
}

// checkClaims applies RFC 9449 §4.3 items 7-12 to verified claims.
func (v *Verifier) checkClaims(c *proofClaims, req *Request) (time.Time, *Error) {
	if c.ID == "" || len(c.ID) > maxJTILen {
		return time.Time{}, invalid("the DPoP proof needs a jti of at most 256 characters")
	}
	if c.Method != req.Method {
		return time.Time{}, invalid("the DPoP proof's htm is not the request's method")
	}
	htu, err := NormalizeURL(c.URL)
	if err != nil || htu != req.URL {
		return time.Time{}, invalid("the DPoP proof's htu is not the request's URL")
	}
	if c.Issued == nil || math.Abs(*c.Issued) > 1e12 {
		return time.Time{}, invalid("the DPoP proof needs a numeric iat")
	}
	iat := time.Unix(int64(*c.Issued), 0)
	if d := req.Now.Sub(iat); d > v.window || d < -v.window {
		return time.Time{}, invalid("the DPoP proof's iat is too far from the server's time")
	}
	if req.AccessToken != "" {
		if c.ATHash == "" || c.ATHash != AccessTokenHash(req.AccessToken) {
			return time.Time{}, invalid("the DPoP proof's ath is not the access token's hash")
		}
	}
	if req.Nonce != nil && (c.Nonce == "" || !req.Nonce(c.Nonce)) {
		return time.Time{}, &Error{Code: CodeUseNonce, Description: "the DPoP proof must carry a fresh nonce from this server"}
	}
	return iat, nil
}

// AccessTokenHash is the ath of a proof for accessToken: base64url SHA-256 of its ASCII
// value (RFC 9449 §4.2).
func AccessTokenHash(accessToken string) string {
	h := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
