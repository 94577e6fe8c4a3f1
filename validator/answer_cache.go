package validator

import (
	"errors"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// answerCache holds the identities of active introspection answers in ristretto, keyed by
// the token's seeded 128-bit hash (the token text is never stored). An introspection
// answer is a network call saved, so it is cached on first sight, and ristretto's TinyLFU
// decides what stays. Identities here keep their claims (the answer), which only this
// cache can give back: an opaque token cannot be decoded again.
type answerCache struct {
	c      *ristretto.Cache[string, *Identity]
	hits   stripedCounter
	misses stripedCounter
}

func newAnswerCache(maxEntries int64) (*answerCache, error) {
	if maxEntries <= 0 {
		return nil, errors.New("token cache size must be positive")
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, *Identity]{
		NumCounters: 10 * maxEntries, // ristretto's advice: 10x the item count for TinyLFU
		MaxCost:     maxEntries,
		BufferItems: 64,
		KeyToHash:   tokenHash,
		// Every entry costs exactly 1, so MaxCost is a count.
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return &answerCache{c: c}, nil
}

func (c *answerCache) Get(token string) (*Identity, bool) {
	id, ok := c.c.Get(token)
	if ok && id != nil {
		c.hits.add()
		return id, true
	}
	c.misses.add()
	return nil, false
}

// Set caches id for ttl; a non-positive ttl stores nothing. Sets are buffered and may be
// dropped under contention, as ristretto's admission policy decides.
func (c *answerCache) Set(token string, id *Identity, ttl time.Duration) {
	if ttl <= 0 || id == nil {
		return
	}
	c.c.SetWithTTL(token, id, 1, ttl)
}

func (c *answerCache) Wait()          { c.c.Wait() }
func (c *answerCache) Close()         { c.c.Close() }
func (c *answerCache) Hits() uint64   { return c.hits.load() }
func (c *answerCache) Misses() uint64 { return c.misses.load() }

// Delete forgets token.
func (c *answerCache) Delete(token string) { c.c.Del(token) }
