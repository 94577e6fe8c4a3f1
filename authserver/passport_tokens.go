package authserver

import (
	"encoding/json"
	"math"
	"strings"
)

// passportClaims reads the claims of an access token Laravel Passport issued
// (league/oauth2-server): aud the client id as a string, sub the user id, a `scopes`
// array, times as numbers that may have a fraction, and no iss or client_id. Such a token
// verifies here once Passport's key pair is imported (`caddy oauth import passport`),
// and, as every token, only while its record (imported with it) is in the store.
func passportClaims(payload []byte) (accessClaims, bool) {
	var p struct {
		Audience  json.RawMessage `json:"aud"`
		ID        string          `json:"jti"`
		Subject   string          `json:"sub"`
		Scopes    []string        `json:"scopes"`
		IssuedAt  float64         `json:"iat"`
		NotBefore float64         `json:"nbf"`
		Expires   float64         `json:"exp"`
		Issuer    *string         `json:"iss"`
		ClientID  *string         `json:"client_id"`
	}
	if json.Unmarshal(payload, &p) != nil || p.ID == "" || p.Expires == 0 || p.Issuer != nil || p.ClientID != nil {
		return accessClaims{}, false
	}
	var aud string
	if json.Unmarshal(p.Audience, &aud) != nil {
		// lcobucci/jwt writes a single audience as a string; a list of one is read too.
		var list []string
		if json.Unmarshal(p.Audience, &list) != nil || len(list) != 1 {
			return accessClaims{}, false
		}
		aud = list[0]
	}
	if aud == "" {
		return accessClaims{}, false
	}
	return accessClaims{
		Subject:   p.Subject,
		Audience:  []string{aud},
		ClientID:  aud,
		Scope:     strings.Join(p.Scopes, " "),
		ID:        p.ID,
		IssuedAt:  int64(math.Floor(p.IssuedAt)),
		NotBefore: int64(math.Floor(p.NotBefore)),
		// A fraction of a second is cut off: the token expires no later than Passport said.
		Expires: int64(math.Floor(p.Expires)),
	}, true
}
