package validator

import (
	"errors"
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"
)

// TokenCache remembers verified JWTs so repeat requests skip the signature check. It
// keeps a seeded 128-bit hash of each token (never the token text) and a compact copy of
// its identity: the token's id, user and expiry, and a pointer to a Grant shared with
// every other cached token of the same client, scopes, issuer, audience and provider.
// Claims beyond those are decoded again from the token when a request asks for one
// (Identity.ClaimsFor). See tokenTable for why this is not ristretto.
//
// A cache may be shared by several verifiers only if they trust the same token sources;
// the JWT verifier still re-checks issuer, audience and expiry on every hit.
type TokenCache struct {
	table      *tokenTable
	grants     grantInterner
	hits       stripedCounter
	misses     stripedCounter
	maxEntries int64
	door       atomic.Pointer[doorkeeper] // made on the first SetRepeated
}

// stripedCounter is a counter that many cores can bump without fighting over one cache
// line: each increment goes to a slot picked by the runtime's per-thread random source,
// and reads add the slots up. A single atomic here cost about a fifth of a parallel
// cache hit.
type stripedCounter struct {
	slots [counterSlots]struct {
		n atomic.Uint64
		_ [56]byte // pad to a 64-byte cache line
	}
}

const counterSlots = 32

func (c *stripedCounter) add() { c.slots[rand.Uint32()%counterSlots].n.Add(1) }

func (c *stripedCounter) load() uint64 {
	var sum uint64
	for i := range c.slots {
		sum += c.slots[i].n.Load()
	}
	return sum
}

// Both halves of the key hash are seeded per process, so nobody outside can aim a
// crafted token at a cached entry's hash (ristretto's default pairs a seeded hash with an
// unseeded xxhash).
var (
	keySeed1 = maphash.MakeSeed()
	keySeed2 = maphash.MakeSeed()
)

func tokenHash(token string) (uint64, uint64) {
	h1 := maphash.String(keySeed1, token)
	h2 := maphash.String(keySeed2, token)
	// ristretto treats a zero conflict hash as "do not check", so never produce one.
	if h2 == 0 {
		h2 = 1
	}
	return h1, h2
}

// NewTokenCache makes a cache holding at most maxEntries tokens.
func NewTokenCache(maxEntries int64) (*TokenCache, error) {
	if maxEntries <= 0 {
		return nil, errors.New("token cache size must be positive")
	}
	return &TokenCache{table: newTokenTable(maxEntries), maxEntries: maxEntries}, nil
}

// Get returns the identity cached for token, if its time in the cache has not run out.
// Callers still check the expiry: the cache's clock counts whole seconds.
// The cache's time runs on the wall clock, whatever clock a verifier checks exp with.
func (c *TokenCache) Get(token string) (*Identity, bool) {
	h1, h2 := tokenHash(token)
	return c.getHashed(h1, h2, time.Now())
}

// getHashed is Get for a token whose hashes (tokenHash) the caller has, at the wall-clock
// time now (a caller that has just read the clock passes its reading).
func (c *TokenCache) getHashed(h1, h2 uint64, now time.Time) (*Identity, bool) {
	id, ok := c.table.get(h1, uint32(h2), c.table.seconds(now))
	if ok {
		c.hits.add()
		return id, true
	}
	c.misses.add()
	return nil, false
}

// Set caches a compact copy of id for token for at most ttl (a non-positive ttl stores
// nothing). An identity whose claims are unsafe for headers is never cached.
func (c *TokenCache) Set(token string, id *Identity, ttl time.Duration) {
	if ttl <= 0 || id == nil || id.unsafe {
		return
	}
	h1, h2 := tokenHash(token)
	c.set(h1, h2, id, ttl, time.Now())
}

func (c *TokenCache) set(h1, h2 uint64, id *Identity, ttl time.Duration, now time.Time) {
	deadline := c.table.seconds(now.Add(ttl))
	// The token id and the user id in one allocation, copied so that the cached identity
	// pins nothing of the token it came from.
	both := id.TokenID + id.UserID
	compact := &Identity{
		Grant:   c.grants.intern(id.Grant),
		TokenID: both[:len(id.TokenID)],
		UserID:  both[len(id.TokenID):],
		expires: id.expires,
	}
	if id.bound() {
		// A bound token (cnf) gets its own copy of the shared grant with its binding:
		// the binding stays out of the Identity, so a plain cached token keeps its 48
		// bytes, and out of the interner, which keys by what many tokens share.
		g := *compact.Grant
		g.jkt, g.x5t = strings.Clone(id.jkt), strings.Clone(id.x5t)
		compact.Grant = &g
	}
	c.table.put(h1, uint32(h2), deadline, compact, c.table.seconds(now))
}

// SetRepeated caches id for token like Set, but only from the token's second sighting
// on: the first time a token is offered, a doorkeeper (a seeded Bloom filter of the
// last maxEntries first sightings) only records it. A token used once (under load with
// every token new, nearly all of them) then costs no cache entry and no live heap for
// the GC to scan on every cycle, while a token used twice is cached on its second use.
// A false positive of the filter (about 3% at the end of a window) caches a token on its
// first sighting, which is what Set does anyway; when the window resets, a token seen
// once before it needs one more sighting.
//
// The JWT verifier uses it: re-verifying a token once more costs one signature check.
func (c *TokenCache) SetRepeated(token string, id *Identity, ttl time.Duration) {
	h1, h2 := tokenHash(token)
	c.setRepeatedHashed(h1, h2, id, ttl, time.Now())
}

// setRepeatedHashed is SetRepeated for a token whose hashes the caller has, at the
// wall-clock time now.
func (c *TokenCache) setRepeatedHashed(h1, h2 uint64, id *Identity, ttl time.Duration, now time.Time) {
	if ttl <= 0 || id == nil || id.unsafe {
		return
	}
	d := c.door.Load()
	if d == nil {
		c.door.CompareAndSwap(nil, newDoorkeeper(c.maxEntries))
		d = c.door.Load()
	}
	if !d.seenBefore(h1, h2) {
		return
	}
	c.set(h1, h2, id, ttl, now)
}

// doorkeeper is a Bloom filter of token hashes (the same seeded hashes the cache keys
// on), 8 bits per cache entry and 3 probes, cleared after as many first sightings as the
// cache holds entries, so its false-positive rate stays under about 3%. It is lock-free:
// probes and the clearing race harmlessly (a race can only admit a token one sighting
// early or late).
type doorkeeper struct {
	words []atomic.Uint64
	mask  uint64 // bit count - 1; the bit count is a power of two
	added atomic.Int64
	limit int64
}

func newDoorkeeper(entries int64) *doorkeeper {
	n := uint64(max(entries*8, 1<<12))
	n = 1 << bits.Len64(n-1) // round up to a power of two
	return &doorkeeper{words: make([]atomic.Uint64, n/64), mask: n - 1, limit: max(entries, 1)}
}

// seenBefore reports whether the hash pair was recorded since the last clearing, and
// records it.
func (d *doorkeeper) seenBefore(h1, h2 uint64) bool {
	seen := true
	for i := uint64(0); i < 3; i++ {
		b := (h1 + i*h2) & d.mask
		w, m := &d.words[b/64], uint64(1)<<(b%64)
		if w.Load()&m == 0 {
			seen = false
			w.Or(m)
		}
	}
	if !seen && d.added.Add(1) == d.limit {
		for i := range d.words {
			d.words[i].Store(0)
		}
		d.added.Store(0)
	}
	return seen
}

// Delete forgets token, e.g. after it is found expired or revoked.
func (c *TokenCache) Delete(token string) {
	h1, h2 := tokenHash(token)
	c.deleteHashed(h1, h2)
}

func (c *TokenCache) deleteHashed(h1, h2 uint64) { c.table.remove(h1, uint32(h2)) }

// Len returns how many tokens are cached.
func (c *TokenCache) Len() int { return c.table.len() }

// Hits returns how many Gets found an entry.
func (c *TokenCache) Hits() uint64 { return c.hits.load() }

// Misses returns how many Gets found none.
func (c *TokenCache) Misses() uint64 { return c.misses.load() }
