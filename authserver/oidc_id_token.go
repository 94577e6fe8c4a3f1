package authserver

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// idTokenMaxTTL caps an ID token's life: it states a sign-in that happened, and relying
// parties check it once, at sign-in; the access token's life may be far longer.
const idTokenMaxTTL = time.Hour

// idTokenClaims are the claims of an OpenID Connect ID token (Core §2), signed RS256 by
// the ring's ID-token key with typ JWT, so no guard takes it for an access token.
type idTokenClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	// AuthorizedParty is the client the token was issued to (Core §2: azp); with a single
	// audience it equals it, and relying parties that look for it find it.
	AuthorizedParty string `json:"azp"`
	Expires         int64  `json:"exp"`
	IssuedAt        int64  `json:"iat"`
	AuthTime        int64  `json:"auth_time,omitempty"`
	Nonce           string `json:"nonce,omitempty"`
	// AccessTokenHash binds the ID token to the access token issued with it (Core §3.1.3.8).
	AccessTokenHash string `json:"at_hash"`
	// Provider names the user provider, as in access tokens, for applications with
	// several kinds of users.
	Provider string `json:"provider,omitempty"`
	*UserClaims
}

// idToken signs the ID token of a sign-in: sub is the user, the audience the client,
// accessToken the access token issued with it.
func (s *Server) idToken(issuer string, sub grantSubject, now time.Time, accessToken string, claims *UserClaims) (string, *Error) {
	signer := s.cfg.Keys.IDTokenSigner()
	if signer == nil {
		return "", errUnavailable("no ID-token signing key loaded", nil)
	}
	ttl := min(s.cfg.AccessTokenTTL, idTokenMaxTTL)
	c := idTokenClaims{
		Issuer:          issuer,
		Subject:         sub.userID,
		Audience:        sub.client.ID,
		AuthorizedParty: sub.client.ID,
		Expires:         now.Add(ttl).Unix(),
		IssuedAt:        now.Unix(),
		Nonce:           sub.nonce,
		AccessTokenHash: leftHalfHash(accessToken),
		Provider:        sub.provider,
		UserClaims:      claims,
	}
	if !sub.authTime.IsZero() {
		c.AuthTime = sub.authTime.Unix()
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", errUnavailable("encoding ID token claims", err)
	}
	tok, err := signer.Sign(payload)
	if err != nil {
		return "", errUnavailable("signing ID token", err)
	}
	return tok, nil
}

// leftHalfHash is the at_hash of a token for RS256: the base64url of the left half of
// its SHA-256 digest (OpenID Connect Core §3.1.3.6).
func leftHalfHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
