package validator

import (
	"math"
	"math/bits"
	"sync"
	"time"
)

// tokenTable is the verified-token cache's storage: a fixed-size, sharded hash table of
// 24-byte slots, bounded by a count, written for a million cached tokens in a few
// hundred MiB. ristretto, which the introspection cache uses, costs about 210 bytes per
// entry here (its store map, expiry buckets and policy map) plus about 50 bytes of
// TinyLFU counters (BenchmarkRistrettoMemory1M), more than a compact cached token
// itself (~110 bytes, TestCachedTokenMemoryStaysCompact), so a million cached JWTs could not
// fit the 300 MiB that issue 15 asks for. Tokens need less than a general cache: every
// entry costs the same, an entry's worth is its remaining life, and one-use tokens are
// already kept out by the doorkeeper (TokenCache.SetRepeated).
//
// Each shard is an open-addressing table with linear probing and backward-shift
// deletion (no tombstones), filled to at most 7/8, under a read-write lock: a hit takes
// the read lock, hashes nothing more and allocates nothing. When a shard is full, an
// insert evicts the entry that expires first among 8 sampled (an expired one if any).
type tokenTable struct {
	shards []tableShard
	mask   uint64 // len(shards) - 1
	epoch  time.Time
}

// tableSlot is one entry: h1 places it, h1 and h2 (the other half of the seeded hash,
// truncated) identify it, deadline is seconds after the table's epoch, and a nil id marks
// an empty slot.
type tableSlot struct {
	h1       uint64
	h2       uint32
	deadline uint32
	id       *Identity
}

type tableShard struct {
	mu    sync.RWMutex
	slots []tableSlot
	count int
	limit int
	seed  uint64 // state of the eviction sampler's random start
	_     [40]byte
}

// tableShards is the most shards a table gets; small tables get fewer, so that each
// shard holds at least 16 entries and the shards' limits add up to at most maxEntries.
const tableShards = 64

func newTokenTable(maxEntries int64) *tokenTable {
	n := uint64(1)
	for n < tableShards && int64(n*2)*16 <= maxEntries {
		n *= 2
	}
	t := &tokenTable{shards: make([]tableShard, n), mask: n - 1, epoch: time.Now()}
	limit := int(maxEntries / int64(n))
	for i := range t.shards {
		s := &t.shards[i]
		s.limit = limit
		s.slots = make([]tableSlot, limit+limit/7+1) // at most 7/8 full
		s.seed = uint64(i)*0x9e3779b97f4a7c15 + 1
	}
	return t
}

// seconds is the table clock: whole seconds since its epoch, saturating (a deadline
// further than 136 years away is the end of the clock).
func (t *tokenTable) seconds(now time.Time) uint32 {
	return uint32(max(0, min(now.Sub(t.epoch)/time.Second, math.MaxUint32)))
}

func (t *tokenTable) shard(h1 uint64) *tableShard { return &t.shards[h1&t.mask] }

// home is the slot an h1 hashes to (the high bits; the shard index took the low ones).
func (s *tableShard) home(h1 uint64) int {
	hi, _ := bits.Mul64(h1, uint64(len(s.slots)))
	return int(hi)
}

// get returns the identity stored under (h1, h2) if its deadline has not passed.
func (t *tokenTable) get(h1 uint64, h2 uint32, now uint32) (*Identity, bool) {
	s := t.shard(h1)
	s.mu.RLock()
	i, n := s.home(h1), len(s.slots)
	for {
		e := &s.slots[i]
		if e.id == nil {
			s.mu.RUnlock()
			return nil, false
		}
		if e.h1 == h1 && e.h2 == h2 {
			id, live := e.id, now < e.deadline
			s.mu.RUnlock()
			return id, live
		}
		if i++; i == n {
			i = 0
		}
	}
}

// put stores id under (h1, h2) until deadline, replacing an entry of the same hash, and
// evicting one when the shard is full.
func (t *tokenTable) put(h1 uint64, h2 uint32, deadline uint32, id *Identity, now uint32) {
	s := t.shard(h1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit == 0 {
		return
	}
	if i, ok := s.find(h1, h2); ok {
		s.slots[i].deadline, s.slots[i].id = deadline, id
		return
	}
	if s.count >= s.limit {
		s.evict(now)
	}
	i, n := s.home(h1), len(s.slots)
	for s.slots[i].id != nil {
		if i++; i == n {
			i = 0
		}
	}
	s.slots[i] = tableSlot{h1: h1, h2: h2, deadline: deadline, id: id}
	s.count++
}

// remove deletes the entry stored under (h1, h2), if any.
func (t *tokenTable) remove(h1 uint64, h2 uint32) {
	s := t.shard(h1)
	s.mu.Lock()
	if i, ok := s.find(h1, h2); ok {
		s.deleteAt(i)
	}
	s.mu.Unlock()
}

// find returns the slot index of (h1, h2); the caller holds the lock.
func (s *tableShard) find(h1 uint64, h2 uint32) (int, bool) {
	i, n := s.home(h1), len(s.slots)
	for s.slots[i].id != nil {
		if s.slots[i].h1 == h1 && s.slots[i].h2 == h2 {
			return i, true
		}
		if i++; i == n {
			i = 0
		}
	}
	return 0, false
}

// deleteAt empties slot i and shifts back the entries after it that would otherwise be
// cut off from their home slot, so lookups never need tombstones.
func (s *tableShard) deleteAt(i int) {
	n := len(s.slots)
	s.slots[i] = tableSlot{}
	s.count--
	j := i
	for {
		if j++; j == n {
			j = 0
		}
		if s.slots[j].id == nil {
			return
		}
		k := s.home(s.slots[j].h1)
		// The entry at j may stay if its home lies cyclically in (i, j].
		if i <= j {
			if i < k && k <= j {
				continue
			}
		} else if i < k || k <= j {
			continue
		}
		s.slots[i], s.slots[j] = s.slots[j], tableSlot{}
		i = j
	}
}

// evict removes one entry: among 8 occupied slots from a random start, the first one
// already past its deadline, else the one whose token expires first (its cached check
// has the least time left to save).
func (s *tableShard) evict(now uint32) {
	s.seed ^= s.seed << 13
	s.seed ^= s.seed >> 7
	s.seed ^= s.seed << 17
	n := len(s.slots)
	i := int(s.seed % uint64(n))
	victim, seen := -1, 0
	for seen < min(8, s.count) {
		if e := &s.slots[i]; e.id != nil {
			if e.deadline <= now {
				victim = i
				break
			}
			if victim < 0 || e.deadline < s.slots[victim].deadline {
				victim = i
			}
			seen++
		}
		if i++; i == n {
			i = 0
		}
	}
	s.deleteAt(victim)
}

// len returns the number of entries held.
func (t *tokenTable) len() int {
	total := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		total += s.count
		s.mu.RUnlock()
	}
	return total
}
