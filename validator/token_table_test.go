package validator

import (
	"math/rand/v2"
	"testing"
)

// The table against a map, through random puts and removes in a small shard (so probe
// runs wrap around and backward shifts are frequent): every entry the model holds is
// found, every removed one is gone, and the count never passes the bound.
func TestTokenTableMatchesAMap(t *testing.T) {
	const limit = 40
	tab := newTokenTable(limit)
	if len(tab.shards) != 2 {
		t.Fatalf("%d shards for %d entries, want 2 (at least 16 entries a shard)", len(tab.shards), limit)
	}
	model := map[[2]uint64]*Identity{}
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([][2]uint64, 200)
	for i := range keys {
		// Few distinct high bits: many keys share a home slot.
		keys[i] = [2]uint64{rng.Uint64()&0xF00000000000000F | uint64(i)<<8, rng.Uint64()}
	}
	for step := range 20_000 {
		k := keys[rng.IntN(len(keys))]
		if rng.IntN(3) == 0 {
			tab.remove(k[0], uint32(k[1]))
			delete(model, k)
		} else {
			id := &Identity{TokenID: "t"}
			before := tab.len()
			_, had := model[k]
			tab.put(k[0], uint32(k[1]), 100, id, 1)
			if !had && tab.len() == before {
				// The key's shard was full and evicted an entry: forget whichever it was.
				for mk := range model {
					if _, ok := tab.get(mk[0], uint32(mk[1]), 1); !ok {
						delete(model, mk)
						break
					}
				}
			}
			model[k] = id
		}
		if n := tab.len(); n > limit || n != len(model) {
			t.Fatalf("step %d: table holds %d, model %d, limit %d", step, n, len(model), limit)
		}
		for mk, id := range model {
			if got, ok := tab.get(mk[0], uint32(mk[1]), 1); !ok || got != id {
				t.Fatalf("step %d: entry lost", step)
			}
		}
	}
}

// A full shard evicts an entry already past its deadline before any live one, else the
// one with the earliest deadline of its sample.
func TestTokenTableEvictsExpiredFirst(t *testing.T) {
	tab := newTokenTable(16) // one shard of 16
	for i := range 16 {
		deadline := uint32(1000 + i)
		if i == 9 {
			deadline = 5 // expired at time 10
		}
		tab.put(uint64(i)<<40|uint64(i), uint32(i+1), deadline, &Identity{}, 10)
	}
	tab.put(99<<40, 99, 2000, &Identity{}, 10)
	if _, ok := tab.get(9<<40|9, 10, 1); ok {
		t.Fatal("the expired entry survived an eviction")
	}
	if tab.len() != 16 {
		t.Fatalf("len %d, want 16", tab.len())
	}
	// Deadlines are checked on get.
	if _, ok := tab.get(99<<40, 99, 2000); ok {
		t.Fatal("an entry was returned at its deadline")
	}
}

// Tables too small for a shard of 16 get one shard; none holds more than asked.
func TestTokenTableBound(t *testing.T) {
	for _, n := range []int64{1, 2, 15, 16, 100, 1000, 1 << 20} {
		tab := newTokenTable(n)
		total := 0
		for i := range tab.shards {
			total += tab.shards[i].limit
		}
		if int64(total) > n || (n >= 64 && int64(total) < n*9/10) {
			t.Errorf("cache of %d: shards hold %d", n, total)
		}
	}
	tab := newTokenTable(1)
	tab.put(1, 1, 10, &Identity{}, 0)
	tab.put(2, 2, 10, &Identity{}, 0)
	if tab.len() != 1 {
		t.Fatalf("a table of 1 holds %d", tab.len())
	}
}
