package authserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/validator"
)

// ClientAssertionTypeJWT is the client_assertion_type of private_key_jwt (RFC 7523 §2.2).
const ClientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// ClientAssertionAlgs are the signature algorithms a client assertion may use, as
// token_endpoint_auth_signing_alg_values_supported lists them. Each key is pinned to one
// of them (validator's rules), so none, HMAC (a public key used as a shared secret) and
// an algorithm the key was not made for are refused.
var ClientAssertionAlgs = []string{"RS256", "PS256", "ES256", "ES384", "EdDSA"}

const (
	// maxAssertionLifetime bounds exp - now: an assertion is made for one request, and a
	// long-lived one would have to be remembered (its jti) for as long.
	maxAssertionLifetime = 5 * time.Minute
	// assertionLeeway absorbs clock skew between the client and this server.
	assertionLeeway = 30 * time.Second
	// maxAssertionBytes bounds what is parsed; a real assertion is well under 2 KiB.
	maxAssertionBytes = 8 << 10
	// maxJTILen bounds the stored assertion id.
	maxJTILen = 256
)

// assertionClaims are the claims RFC 7523 §3 requires of a client assertion. Times are
// floats because some libraries write fractional seconds.
type assertionClaims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Audience  json.RawMessage `json:"aud"`
	Expires   *float64        `json:"exp"`
	NotBefore *float64        `json:"nbf"`
	IssuedAt  *float64        `json:"iat"`
	ID        string          `json:"jti"`
}

// audiences returns aud as a list: RFC 7519 allows a string or an array of strings.
func (c *assertionClaims) audiences() ([]string, bool) {
	var one string
	if err := json.Unmarshal(c.Audience, &one); err == nil {
		return []string{one}, true
	}
	var many []string
	if err := json.Unmarshal(c.Audience, &many); err == nil {
		return many, true
	}
	return nil, false
}

// unverifiedSubject reads sub from an assertion's payload before its signature is
// checked, only to know whose keys to check it with; nothing else is trusted from it.
func unverifiedSubject(assertion string) (string, bool) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c struct {
		Subject string `json:"sub"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return "", false
	}
	return c.Subject, c.Subject != ""
}

// authenticateAssertion authenticates a private_key_jwt client (RFC 7523 §3, OpenID
// Connect Core §9): the assertion must be signed by one of the client's registered keys,
// with iss = sub = the client, aud naming this server, a short life, and a jti never
// accepted before. The jti is recorded last, after every other check, so a refused
// assertion changes nothing.
func (s *Server) authenticateAssertion(ctx context.Context, cred clientCredentials) (*store.Client, *Error) {
	refuse := func(desc string) *Error { return errInvalidClient(desc, false) }
	if len(cred.assertion) > maxAssertionBytes {
		return nil, refuse("the client assertion is too large")
	}
	sub, ok := unverifiedSubject(cred.assertion)
	if !ok || !storableText(sub) {
		return nil, refuse("the client assertion is not a signed JWT with a sub claim")
	}
	if cred.id != "" && cred.id != sub {
		return nil, refuse("client_id does not match the client assertion's subject")
	}
	msg, err := jws.Parse([]byte(cred.assertion), jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, refuse("the client assertion is not a compact JWS")
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	alg := hdr.Algorithm().String()
	if !slices.Contains(ClientAssertionAlgs, alg) {
		return nil, refuse("the client assertion's alg must be one of " + strings.Join(ClientAssertionAlgs, ", "))
	}
	c, err := s.clientStore.GetClient(ctx, sub)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refuse("client authentication failed")
	}
	if err != nil {
		return nil, errUnavailable("loading client", err, zap.String("client_id", sub))
	}
	if c.Revoked || c.TokenAuthMethod != store.TokenAuthPrivateKeyJWT {
		// A client registered with a secret (or none) may not switch to assertions: its
		// registration says how it authenticates.
		return nil, refuse("client authentication failed")
	}
	src, err := s.clientKeys.source(ctx, c)
	if err != nil {
		s.log.Warn("loading a private_key_jwt client's keys", zap.String("client_id", c.ID), zap.Error(err))
		return nil, refuse("the client's keys could not be loaded")
	}
	keys, err := src.Lookup(ctx, hdr.KeyID(), alg)
	if err != nil {
		if !errors.Is(err, validator.ErrUnknownKey) && !errors.Is(err, validator.ErrAlgorithmMismatch) {
			s.log.Warn("refetching a private_key_jwt client's keys", zap.String("client_id", c.ID), zap.Error(err))
		}
		return nil, refuse("no key of the client verifies the client assertion")
	}
	var payload []byte
	for _, k := range keys {
		if p, err := jws.Verify([]byte(cred.assertion), jws.WithKey(jwa.SignatureAlgorithm(alg), k)); err == nil {
			payload = p
			break
		}
	}
	if payload == nil {
		return nil, refuse("the client assertion's signature is invalid")
	}
	var claims assertionClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&claims); err != nil {
		return nil, refuse("the client assertion's claims are malformed")
	}
	expires, oerr := s.checkAssertionClaims(&claims, c.ID, s.assertionAudiences(cred.req))
	if oerr != nil {
		return nil, oerr
	}
	// Kept past exp by the leeway, the time during which checkAssertionClaims still
	// accepts the assertion.
	switch err := s.clientStore.UseClientAssertion(ctx, c.ID, claims.ID, expires.Add(assertionLeeway), s.now()); {
	case errors.Is(err, store.ErrAlreadyUsed):
		return nil, refuse("the client assertion was already used")
	case errors.Is(err, store.ErrNotFound):
		return nil, refuse("client authentication failed")
	case err != nil:
		return nil, errUnavailable("recording a client assertion", err, zap.String("client_id", c.ID))
	}
	return c, nil
}

// checkAssertionClaims applies RFC 7523 §3 to verified claims and returns the
// assertion's expiry.
func (s *Server) checkAssertionClaims(c *assertionClaims, clientID string, want []string) (time.Time, *Error) {
	refuse := func(desc string) (time.Time, *Error) { return time.Time{}, errInvalidClient(desc, false) }
	if c.Issuer != clientID || c.Subject != clientID {
		return refuse("the client assertion's iss and sub must both be the client_id")
	}
	auds, ok := c.audiences()
	if !ok || !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(want, a) }) {
		return refuse("the client assertion's aud must name this server (its issuer or the endpoint URL)")
	}
	// DPoP proofs are recorded beside assertions under dpopReplayPrefix (dpop_proof.go).
	if c.ID == "" || len(c.ID) > maxJTILen || !storableText(c.ID) || strings.HasPrefix(c.ID, dpopReplayPrefix) {
		return refuse("the client assertion needs a jti")
	}
	now := s.now()
	if c.Expires == nil || math.IsNaN(*c.Expires) {
		return refuse("the client assertion needs an exp")
	}
	exp := floatTime(*c.Expires)
	switch {
	case !now.Before(exp.Add(assertionLeeway)):
		return refuse("the client assertion has expired")
	case exp.After(now.Add(maxAssertionLifetime + assertionLeeway)):
		return refuse("the client assertion's exp is too far ahead (at most 5 minutes)")
	case c.NotBefore != nil && floatTime(*c.NotBefore).After(now.Add(assertionLeeway)):
		return refuse("the client assertion is not valid yet (nbf)")
	case c.IssuedAt != nil && floatTime(*c.IssuedAt).After(now.Add(assertionLeeway)):
		return refuse("the client assertion was issued in the future (iat)")
	}
	return exp, nil
}

// floatTime turns a NumericDate into a time, clamping absurd values instead of
// overflowing.
func floatTime(f float64) time.Time {
	const limit = 1 << 40 // far beyond any real date, far below overflow
	f = math.Max(math.Min(f, limit), -limit)
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// assertionAudiences are the aud values accepted from a client assertion sent with r:
// the issuer (RFC 7523 §3 and RFC 9126 §2 allow it), the token endpoint URL (what OpenID
// Connect Core §9 asks for, whichever endpoint the client authenticates at) and the URL
// of the endpoint r was sent to. The jti being single-use everywhere, an assertion
// cannot be replayed from one endpoint at another.
func (s *Server) assertionAudiences(r *http.Request) []string {
	iss := s.issuerFor(r)
	return []string{iss, iss + PathToken, iss + r.URL.Path}
}
