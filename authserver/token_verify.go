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
	// key is the token's entry in the verified-token cache, where its encoded
	// introspection answer is kept; answer is that answer when there was one, valid
	// until answerUntil.
	key         [32]byte
	gen         *byte
	answer      []byte
	answerUntil time.Time
}

// verifyAccessToken checks an access token the way a resource server would, with the
// server's own key ring, and then its record by jti: one indexed lookup, no hashing of
// secrets, the first time this server sees the token. After that, the record it read is
// remembered with the token's verified claims, and only revocation is looked for, in the
// revocation mirror (revocation_mirror.go): a token revoked through this server is
// refused at once, one revoked through another node within RevocationLag. It returns
// nil (and no error) for a token that is not ours, malformed, expired, not yet valid, of
// another issuer, revoked or unknown; an error only when the store cannot answer, which
// the caller answers and logs.
//
// rememberRefusal says whether a token whose signature or claims fail may be remembered
// as refused: only when the caller is an authenticated resource server, so that nobody
// else can fill the cache with junk.
func (s *Server) verifyAccessToken(ctx context.Context, token string, rememberRefusal bool) (*verifiedAccess, error) {
	now := s.now()
	key := sha256.Sum256([]byte(token))
	gen := s.keyGeneration()
	e, ok := s.verified.get(key, gen, now)
	if !ok {
		c, valid, forever := s.checkAccessToken(token, now)
		if !valid {
			if forever && rememberRefusal {
				// A bad signature stays bad under this key ring: a caller presenting
				// it again costs a hash, not another ECDSA verification.
				s.verified.put(key, verifiedEntry{gen: gen, inactive: true, refused: true})
			}
			return nil, nil
		}
		e = verifiedEntry{claims: c, gen: gen}
		s.verified.put(key, e)
	}
	if e.inactive {
		return nil, nil
	}
	if e.record != nil && now.Before(e.record.ExpiresAt) {
		revoked, known := s.mirror.revoked(ctx, e.claims.ID)
		if revoked {
			s.verified.markInactive(key, gen)
			return nil, nil
		}
		if known {
			return &verifiedAccess{claims: e.claims, record: e.record, key: key, gen: gen,
				answer: e.answer, answerUntil: e.answerUntil}, nil
		}
	}
	rec, err := s.introspectStore.GetAccessToken(ctx, e.claims.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading access token %q: %w", e.claims.ID, err)
	}
	if rec.Revoked || rec.ClientID != e.claims.ClientID || !now.Before(rec.ExpiresAt) {
		// None of these ever changes back.
		s.verified.markInactive(key, gen)
		return nil, nil
	}
	s.verified.setRecord(key, gen, rec)
	return &verifiedAccess{claims: e.claims, record: rec, key: key, gen: gen}, nil
}

// checkAccessToken does the checks that need no store: signature with the key ring,
// claims, times and issuer. It reports whether they all pass, and when they do not,
// whether the token fails for good under the current key ring (forever: anything but
// its times, which a clock can still make right).
func (s *Server) checkAccessToken(token string, now time.Time) (c accessClaims, valid, forever bool) {
	payload, _, err := s.cfg.Keys.Verify(token)
	if err != nil {
		return c, false, true
	}
	passport := false
	if err := json.Unmarshal(payload, &c); err != nil || c.ID == "" || c.ClientID == "" {
		// Not our claims: perhaps a token Laravel Passport issued with its imported key.
		if c, passport = passportClaims(payload); !passport {
			return c, false, true
		}
	}
	// nbf is the issuing node's clock; another node sharing the store may run a little
	// behind it. exp needs no leeway: it is checked against the stored expiry too.
	if c.Expires <= now.Unix() || c.NotBefore > now.Add(nbfLeeway).Unix() {
		return c, false, false
	}
	// With a configured issuer, a token naming another one (signed with a key shared by
	// several sites) is not this server's. Without one, the issuer follows each request's
	// host, so the token's own iss is all there is to go by.
	// Passport's tokens name no issuer; their record, imported with them, vouches instead.
	if s.cfg.Issuer != "" && c.Issuer != s.cfg.Issuer && !passport {
		return c, false, true
	}
	return c, true, false
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

// maxVerified bounds the verified-token cache (about 1 KiB an entry with its record and
// its encoded answer); when full it is emptied, which only costs signature checks and
// record reads.
const maxVerified = 32768

// verifiedCache remembers the claims of access tokens whose signature, times and issuer
// checked out, by the SHA-256 of the whole token, so introspecting a token again (from
// several guards, or after a guard's cache time) costs a hash instead of an ECDSA
// verification, about two thirds of the endpoint's CPU; and of those whose signature or
// claims did not, when an authenticated resource server presented them (so filling the
// cache with junk takes a client's credentials, and only empties it). With them it keeps the token's
// store record once read, whether it was found inactive, and its encoded introspection
// answer. Any change to the token changes the key, so a forged token always meets the
// full check; an entry is used only until the token's exp and under the key ring it was
// verified with; revocation is looked up in the revocation mirror on every use.
type verifiedCache struct {
	mu      sync.RWMutex
	entries map[[32]byte]verifiedEntry
}

type verifiedEntry struct {
	claims accessClaims
	gen    *byte
	// record is the token's store record, read at its first introspection; nil until
	// then.
	record *store.AccessToken
	// inactive: the record was revoked, expired or missing its client, or (refused)
	// the token itself failed its checks for good: it stays so.
	inactive bool
	// refused: the token's signature or claims failed; claims is empty and the entry
	// lasts as long as the key ring's generation.
	refused bool
	// answer is the encoded introspection answer of an active token, valid until
	// answerUntil (the username in it is looked up again after that).
	answer      []byte
	answerUntil time.Time
}

func (v *verifiedCache) get(key [32]byte, gen *byte, now time.Time) (verifiedEntry, bool) {
	v.mu.RLock()
	e, ok := v.entries[key]
	v.mu.RUnlock()
	if !ok || gen == nil || e.gen != gen || (!e.refused && e.claims.Expires <= now.Unix()) {
		return verifiedEntry{}, false
	}
	return e, true
}

func (v *verifiedCache) put(key [32]byte, e verifiedEntry) {
	if e.gen == nil {
		return
	}
	v.mu.Lock()
	if v.entries == nil || len(v.entries) >= maxVerified {
		v.entries = make(map[[32]byte]verifiedEntry)
	}
	v.entries[key] = e
	v.mu.Unlock()
}

// update changes the entry of key, if it is still there under gen.
func (v *verifiedCache) update(key [32]byte, gen *byte, fn func(*verifiedEntry)) {
	v.mu.Lock()
	if e, ok := v.entries[key]; ok && e.gen == gen {
		fn(&e)
		v.entries[key] = e
	}
	v.mu.Unlock()
}

func (v *verifiedCache) setRecord(key [32]byte, gen *byte, rec *store.AccessToken) {
	v.update(key, gen, func(e *verifiedEntry) { e.record = rec })
}

func (v *verifiedCache) markInactive(key [32]byte, gen *byte) {
	v.update(key, gen, func(e *verifiedEntry) { e.inactive, e.record, e.answer = true, nil, nil })
}

func (v *verifiedCache) setAnswer(key [32]byte, gen *byte, answer []byte, until time.Time) {
	v.update(key, gen, func(e *verifiedEntry) {
		if !e.inactive {
			e.answer, e.answerUntil = answer, until
		}
	})
}
