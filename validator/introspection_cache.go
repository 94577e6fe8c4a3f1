package validator

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// Defaults of the introspection cache.
const (
	// DefaultIntrospectionCacheTTL is how long an active answer is trusted when cache_ttl
	// is not given (never past the token's exp).
	DefaultIntrospectionCacheTTL = time.Minute
	// DefaultNegativeCacheTTL is how long an inactive answer is remembered: long enough
	// that a client retrying a bad token in a loop costs one call per few seconds, short
	// enough that nothing real waits on it.
	DefaultNegativeCacheTTL = 5 * time.Second
	// DefaultNegativeCacheSize bounds how many inactive answers are remembered, so a
	// stream of garbage tokens cannot grow memory.
	DefaultNegativeCacheSize = 10_000
)

// IntrospectionCache holds RFC 7662 answers: active ones (the identity) in a ristretto answerCache,
// inactive ones in a second, small ristretto cache of bounded count. Both key by seeded
// hashes of the token; the token text is never stored. It also coalesces concurrent
// introspections of one token, so every guard sharing the cache shares the calls.
type IntrospectionCache struct {
	active   *answerCache
	inactive *ristretto.Cache[string, struct{}]
	flight   singleflight.Group
}

// NewIntrospectionCache makes a cache of at most activeEntries active answers and
// inactiveEntries inactive ones (zero means DefaultNegativeCacheSize).
func NewIntrospectionCache(activeEntries, inactiveEntries int64) (*IntrospectionCache, error) {
	if inactiveEntries == 0 {
		inactiveEntries = DefaultNegativeCacheSize
	}
	if inactiveEntries < 0 {
		return nil, errors.New("negative cache size must be positive")
	}
	active, err := newAnswerCache(activeEntries)
	if err != nil {
		return nil, err
	}
	inactive, err := ristretto.NewCache(&ristretto.Config[string, struct{}]{
		NumCounters:        10 * inactiveEntries,
		MaxCost:            inactiveEntries,
		BufferItems:        64,
		KeyToHash:          tokenHash,
		IgnoreInternalCost: true,
	})
	if err != nil {
		active.Close()
		return nil, err
	}
	return &IntrospectionCache{active: active, inactive: inactive}, nil
}

// getActive returns the cached identity of an active token.
func (c *IntrospectionCache) getActive(token string) (*Identity, bool) { return c.active.Get(token) }

// isInactive reports whether token was recently answered inactive.
func (c *IntrospectionCache) isInactive(token string) bool {
	_, ok := c.inactive.Get(token)
	return ok
}

func (c *IntrospectionCache) setActive(token string, id *Identity, ttl time.Duration) {
	c.active.Set(token, id, ttl)
}

func (c *IntrospectionCache) setInactive(token string, ttl time.Duration) {
	if ttl > 0 {
		c.inactive.SetWithTTL(token, struct{}{}, 1, ttl)
	}
}

// flightKey names a token inside the singleflight group by its SHA-256, so the group's
// map never holds the token itself.
func flightKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Hits returns how many lookups found an active answer.
func (c *IntrospectionCache) Hits() uint64 { return c.active.Hits() }

// Misses returns how many lookups found no active answer (inactive hits included).
func (c *IntrospectionCache) Misses() uint64 { return c.active.Misses() }

// Wait blocks until buffered sets are applied; for tests.
func (c *IntrospectionCache) Wait() {
	c.active.Wait()
	c.inactive.Wait()
}

// Close stops the caches' goroutines; the cache must not be used afterwards.
func (c *IntrospectionCache) Close() {
	c.active.Close()
	c.inactive.Close()
}
