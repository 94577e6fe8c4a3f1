package dpop

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestReplayCacheAcceptsEachProofOnce(t *testing.T) {
	const window = time.Minute
	c := NewReplayCache(window, 0)
	p := &Proof{JKT: "key-a", ID: "jti-1"}
	if err := c.Use(p, t0); err != nil {
		t.Fatal(err)
	}
	if err := c.Use(p, t0); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: %v", err)
	}
	// The same jti under another key is another proof.
	if err := c.Use(&Proof{JKT: "key-b", ID: "jti-1"}, t0); err != nil {
		t.Fatal(err)
	}
	// A proof accepted at t0 may carry an iat up to window ahead, so it is acceptable
	// until t0+2×window: it must be remembered through every rotation until then.
	for _, d := range []time.Duration{window, 2*window - time.Second, 2 * window, 3 * window, 4*window - time.Second} {
		if err := c.Use(&Proof{JKT: "filler", ID: d.String()}, t0.Add(d)); err != nil {
			t.Fatal(err)
		}
		if d < 2*window {
			if err := c.Use(p, t0.Add(d)); !errors.Is(err, ErrReplayed) {
				t.Fatalf("replay %v later: %v", d, err)
			}
		}
	}
	// Long after, the memory of it is gone (its iat can no longer pass).
	if err := c.Use(&Proof{JKT: "filler", ID: "late"}, t0.Add(10*window)); err != nil {
		t.Fatal(err)
	}
	if n := c.Len(); n != 1 {
		t.Fatalf("after 10 windows the cache holds %d proofs, want 1", n)
	}
}

func TestReplayCacheFailsClosedWhenFull(t *testing.T) {
	c := NewReplayCache(time.Minute, 2)
	for _, key := range []string{"a", "b"} {
		if err := c.Use(&Proof{JKT: key, ID: "1"}, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Use(&Proof{JKT: "c", ID: "1"}, t0); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("third proof: %v", err)
	}
	if err := c.Use(&Proof{JKT: "a", ID: "1"}, t0); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay while full: %v", err)
	}
	// The next generation has room again.
	if err := c.Use(&Proof{JKT: "c", ID: "1"}, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
}

// One key's holder cannot fill the cache every client needs: past a sixteenth of a
// generation, its proofs are refused while other keys' go on; the next generation gives
// it its share again.
func TestReplayCacheLimitsEachKeyToItsShare(t *testing.T) {
	c := NewReplayCache(time.Minute, 64)
	for i := range 4 {
		if err := c.Use(&Proof{JKT: "greedy", ID: strconv.Itoa(i)}, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Use(&Proof{JKT: "greedy", ID: "4"}, t0); !errors.Is(err, ErrKeyOverLimit) {
		t.Fatalf("fifth proof of one key: %v", err)
	}
	if err := c.Use(&Proof{JKT: "other", ID: "1"}, t0); err != nil {
		t.Fatalf("another key: %v", err)
	}
	if err := c.Use(&Proof{JKT: "greedy", ID: "4"}, t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("next generation: %v", err)
	}
}

// A cache widened for a longer window remembers a proof through that window's whole span.
func TestReplayCacheWiden(t *testing.T) {
	c := NewReplayCache(time.Minute, 0)
	c.Widen(30 * time.Second) // never narrows
	c.Widen(5 * time.Minute)
	p := &Proof{JKT: "k", ID: "1"}
	if err := c.Use(p, t0); err != nil {
		t.Fatal(err)
	}
	// A 5-minute verifier accepts p until t0+10 min: the cache must still know it then,
	// where a 1-minute cache would have dropped it after 4 minutes.
	for _, d := range []time.Duration{3 * time.Minute, 5 * time.Minute, 9 * time.Minute, 10*time.Minute - time.Second} {
		if err := c.Use(&Proof{JKT: "filler", ID: d.String()}, t0.Add(d)); err != nil {
			t.Fatal(err)
		}
		if err := c.Use(p, t0.Add(d)); !errors.Is(err, ErrReplayed) {
			t.Fatalf("replay %v later: %v", d, err)
		}
	}
}
