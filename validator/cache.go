package validator

import (
	"errors"
	"hash/maphash"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// TokenCache remembers verified tokens so repeat requests skip signature checks and
// introspection calls. It wraps ristretto, which keeps only a 128-bit hash of each key:
// the token text itself is never stored.
//
// A cache may be shared by several verifiers only if they trust the same token sources;
// the JWT verifier still re-checks issuer, audience and expiry on every hit.
type TokenCache struct {
	c      *ristretto.Cache[string, *Identity]
	hits   stripedCounter
	misses stripedCounter
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

// NewTokenCache makes a cache holding at most maxEntries tokens (cost 1 each).
func NewTokenCache(maxEntries int64) (*TokenCache, error) {
	if maxEntries <= 0 {
		return nil, errors.New("token cache size must be positive")
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, *Identity]{
		NumCounters: 10 * maxEntries, // ristretto's advice: 10x the item count for TinyLFU
		MaxCost:     maxEntries,
		BufferItems: 64,
		KeyToHash:   tokenHash,
		// Every entry costs exactly 1, so MaxCost is a count; without this ristretto adds
		// its own per-item overhead to the cost and the cache holds fewer entries.
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return &TokenCache{c: c}, nil
}

// Get returns the identity cached for token. ristretto refuses entries past their TTL;
// callers still check ExpiresAt because the TTL is only as precise as the clock that set it.
func (c *TokenCache) Get(token string) (*Identity, bool) {
	id, ok := c.c.Get(token)
	if ok && id != nil {
		c.hits.add()
		return id, true
	}
	c.misses.add()
	return nil, false
}

// Set caches id for token for ttl. A non-positive ttl stores nothing. Sets are buffered
// and may be dropped under contention, as ristretto's admission policy decides.
func (c *TokenCache) Set(token string, id *Identity, ttl time.Duration) {
	if ttl <= 0 || id == nil {
		return
	}
	c.c.SetWithTTL(token, id, 1, ttl)
}

// Delete forgets token, e.g. after it is found expired or revoked.
func (c *TokenCache) Delete(token string) { c.c.Del(token) }

// Wait blocks until buffered Sets are applied; for tests.
func (c *TokenCache) Wait() { c.c.Wait() }

// Close stops the cache's goroutines; the cache must not be used afterwards.
func (c *TokenCache) Close() { c.c.Close() }

// Hits returns how many Gets found an entry.
func (c *TokenCache) Hits() uint64 { return c.hits.load() }

// Misses returns how many Gets found none.
func (c *TokenCache) Misses() uint64 { return c.misses.load() }
