package dpop

import (
	"crypto/sha256"
	"errors"
	"sync"
	"time"
)

// ErrReplayed: the proof was accepted before (RFC 9449 §11.1).
var ErrReplayed = &Error{Code: CodeInvalidProof, Description: "the DPoP proof was used before"}

// ErrReplayCacheFull: the cache holds its capacity of proofs still inside their window,
// so a new one could not be remembered. The proof is refused (failing closed): accepting
// it unrecorded would let it be replayed.
var ErrReplayCacheFull = errors.New("dpop: replay cache full")

// ErrKeyOverLimit: the proof's key already has its share of the generation (a sixteenth
// of the capacity), so one key holder cannot fill the cache that every client's proofs
// need. The proof is refused; other keys are unaffected.
var ErrKeyOverLimit = errors.New("dpop: too many recent proofs of one key")

// keyShare is the part of a generation's capacity one key may take.
const keyShare = 16

// DefaultReplayCapacity is how many proofs a ReplayCache remembers per generation unless
// told otherwise: about 16 MiB of digests and map overhead each.
const DefaultReplayCapacity = 1 << 19

// ReplayCache remembers the proofs accepted recently, by a digest of their key
// thumbprint and jti, so each proof is accepted once. Memory is bounded by time and by
// count: entries live in two generations, each spanning 2×window; the older generation
// is dropped as a whole when a new one starts. A proof can only be accepted while its
// iat is within window of now, and every generation outlives that for the proofs it
// holds. Safe for concurrent use.
type ReplayCache struct {
	span     time.Duration
	capacity int

	mu       sync.Mutex
	started  time.Time // when cur began
	cur, old map[[16]byte]struct{}
	// perKey counts cur's proofs by key thumbprint (ErrKeyOverLimit).
	perKey map[string]int
}

// NewReplayCache returns a cache for proofs checked with window (Verifier.Window) that
// holds at most capacity proofs per generation (zero: DefaultReplayCapacity).
func NewReplayCache(window time.Duration, capacity int) *ReplayCache {
	if capacity <= 0 {
		capacity = DefaultReplayCapacity
	}
	return &ReplayCache{span: 2 * window, capacity: capacity}
}

// Use records p as accepted at now: ErrReplayed if it was already, ErrReplayCacheFull if
// it cannot be remembered; nil means the caller may accept it.
func (c *ReplayCache) Use(p *Proof, now time.Time) error {
	k := replayKey(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if elapsed := now.Sub(c.started); c.cur == nil || elapsed >= c.span || elapsed < 0 {
		// Every entry of cur was added less than span ago; kept one more span as old, it
		// is remembered at least span = 2×window after it was added, which covers its
		// proof's whole window (its iat is within window of when it was added). When cur
		// itself is older than 2×span, nothing in it needs keeping.
		c.old = c.cur
		if elapsed >= 2*c.span {
			c.old = nil
		}
		c.cur, c.perKey, c.started = make(map[[16]byte]struct{}), make(map[string]int), now
	}
	if _, ok := c.cur[k]; ok {
		return ErrReplayed
	}
	if _, ok := c.old[k]; ok {
		return ErrReplayed
	}
	if len(c.cur) >= c.capacity {
		return ErrReplayCacheFull
	}
	if c.perKey[p.JKT] >= max(c.capacity/keyShare, 1) {
		return ErrKeyOverLimit
	}
	c.cur[k] = struct{}{}
	c.perKey[p.JKT]++
	return nil
}

// Widen makes the cache remember proofs long enough for a verifier of window too: a
// cache shared by verifiers of several windows must cover the largest. It never narrows;
// entries already held are kept at least as long as before.
func (c *ReplayCache) Widen(window time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if span := 2 * window; span > c.span {
		c.span = span
	}
}

// Len is the number of proofs remembered.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}

// replayKey digests the key thumbprint and jti: a jti is unique per key (RFC 9449 §4.2),
// and 128 bits of SHA-256 keep entries small without a chance of collision.
func replayKey(p *Proof) [16]byte {
	sum := sha256.Sum256([]byte(p.JKT + "\x00" + p.ID))
	return [16]byte(sum[:16])
}
