package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// nbfLeeway is how far in the future a token's nbf may be: the clock skew tolerated
// between the nodes of one store.
const nbfLeeway = 5 * time.Second

// verifiedAccess is an access token of ours whose signature, times, issuer and store
// record all check out.
type verifiedAccess struct {
	claims accessClaims
	record *store.AccessToken
}

// verifyAccessToken checks an access token the way a resource server would, with the
// server's own key ring, and then its record by jti: one indexed lookup, no hashing of
// secrets. It returns nil (and no error) for a token that is not ours, malformed,
// expired, not yet valid, of another issuer, revoked or unknown; an error only when the
// store cannot answer, which the caller answers and logs.
func (s *Server) verifyAccessToken(ctx context.Context, token string) (*verifiedAccess, error) {
	now := s.now()
	key := sha256.Sum256([]byte(token))
	gen := s.keyGeneration()
	c, ok := s.verified.get(key, gen, now)
	if !ok {
		var valid bool
		if c, valid = s.checkAccessToken(token, now); !valid {
			return nil, nil
		}
		s.verified.put(key, gen, c)
	}
	rec, err := s.introspectStore.GetAccessToken(ctx, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading access token %q: %w", c.ID, err)
	}
	if rec.Revoked || rec.ClientID != c.ClientID || !now.Before(rec.ExpiresAt) {
		return nil, nil
	}
	return &verifiedAccess{claims: c, record: rec}, nil
}

// checkAccessToken does the checks that need no store: signature with the key ring,
// claims, times and issuer. It reports whether they all pass.
func (s *Server) checkAccessToken(token string, now time.Time) (accessClaims, bool) {
	var c accessClaims
	payload, _, err := s.cfg.Keys.Verify(token)
	if err != nil {
		return c, false
	}
	passport := false
	if err := json.Unmarshal(payload, &c); err != nil || c.ID == "" || c.ClientID == "" {
		// Not our claims: perhaps a token Laravel Passport issued with its imported key.
		if c, passport = passportClaims(payload); !passport {
			return c, false
		}
	}
	// nbf is the issuing node's clock; another node sharing the store may run a little
	// behind it. exp needs no leeway: it is checked against the stored expiry too.
	if c.Expires <= now.Unix() || c.NotBefore > now.Add(nbfLeeway).Unix() {
		return c, false
	}
	// With a configured issuer, a token naming another one (signed with a key shared by
	// several sites) is not this server's. Without one, the issuer follows each request's
	// host, so the token's own iss is all there is to go by.
	// Passport's tokens name no issuer; their record, imported with them, vouches instead.
	if s.cfg.Issuer != "" && c.Issuer != s.cfg.Issuer && !passport {
		return c, false
	}
	return c, true
}

// keyGeneration identifies the key ring's current state: the published JWKS document,
// which Load replaces whenever the set of keys changes. A token verified under one
// generation is verified again under the next, so a key taken out of the ring stops
// being accepted at once.
func (s *Server) keyGeneration() *byte {
	jwks := s.cfg.Keys.JWKS()
	if len(jwks) == 0 {
		return nil
	}
	return &jwks[0]
}

// maxVerified bounds the verified-token cache (about 300 bytes an entry); when full it
// is emptied, which only costs signature checks.
const maxVerified = 32768

// verifiedCache remembers the claims of access tokens whose signature, times and issuer
// checked out, by the SHA-256 of the whole token, so introspecting a token again (from
// several guards, or after a guard's cache time) costs a hash instead of an ECDSA
// verification, about two thirds of the endpoint's CPU. Any change to the token changes
// the key, so a forged token always meets the full check; the store record is still
// read on every call, so a revocation is felt at once; an entry is used only until the
// token's exp and under the key ring it was verified with.
type verifiedCache struct {
	mu      sync.RWMutex
	entries map[[32]byte]verifiedEntry
}

type verifiedEntry struct {
	claims accessClaims
	gen    *byte
}

func (v *verifiedCache) get(key [32]byte, gen *byte, now time.Time) (accessClaims, bool) {
	v.mu.RLock()
	e, ok := v.entries[key]
	v.mu.RUnlock()
	if !ok || gen == nil || e.gen != gen || e.claims.Expires <= now.Unix() {
		return accessClaims{}, false
	}
	return e.claims, true
}

func (v *verifiedCache) put(key [32]byte, gen *byte, c accessClaims) {
	if gen == nil {
		return
	}
	v.mu.Lock()
	if v.entries == nil || len(v.entries) >= maxVerified {
		v.entries = make(map[[32]byte]verifiedEntry)
	}
	v.entries[key] = verifiedEntry{claims: c, gen: gen}
	v.mu.Unlock()
}
