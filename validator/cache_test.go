package validator

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func TestTokenCache(t *testing.T) {
	c, err := NewTokenCache(100)
	if err != nil {
		t.Fatal(err)
	}
	id := &Identity{Grant: &Grant{ClientID: "c"}, TokenID: "a"}

	t.Run("stored entry is returned and counted as a hit", func(t *testing.T) {
		c.Set("tok-a", id, time.Minute)
		if got, ok := c.Get("tok-a"); !ok || got.TokenID != id.TokenID || got.ClientID != "c" {
			t.Fatalf("Get = %v, %v", got, ok)
		}
		if c.Hits() != 1 {
			t.Fatalf("hits = %d", c.Hits())
		}
	})
	t.Run("unknown token is a miss", func(t *testing.T) {
		before := c.Misses()
		if _, ok := c.Get("tok-b"); ok {
			t.Fatal("hit on an unknown token")
		}
		if c.Misses() != before+1 {
			t.Fatalf("misses = %d", c.Misses())
		}
	})
	t.Run("entry past its ttl is never returned", func(t *testing.T) {
		// The entry's expiry is fixed when Set is called; a stall of the test between Set
		// and the first Get (a busy machine) must not be read as a missing fresh entry.
		// The cache's clock counts whole seconds from the table's creation and Set
		// rounds the deadline down, so the entry lives at least ttl-1s and at most ttl
		// from when Set read the clock: between start and setAt.
		const ttl = 1500 * time.Millisecond
		start := time.Now()
		c.Set("tok-short", id, ttl)
		setAt := time.Now()
		if _, ok := c.Get("tok-short"); !ok && time.Since(start) < ttl-time.Second {
			t.Fatal("fresh entry missing")
		}
		// Past setAt+ttl the deadline, at most Set's own reading plus ttl, has passed
		// whatever the rounding; the margin only covers the sleep's resolution.
		time.Sleep(time.Until(setAt.Add(ttl)) + 50*time.Millisecond)
		if _, ok := c.Get("tok-short"); ok {
			t.Fatal("expired entry returned")
		}
	})
	t.Run("non-positive ttl stores nothing", func(t *testing.T) {
		c.Set("tok-zero", id, 0)
		c.Set("tok-neg", id, -time.Second)
		if _, ok := c.Get("tok-zero"); ok {
			t.Fatal("zero ttl stored")
		}
		if _, ok := c.Get("tok-neg"); ok {
			t.Fatal("negative ttl stored")
		}
	})
	t.Run("deleted entry is gone", func(t *testing.T) {
		c.Set("tok-del", id, time.Minute)
		c.Delete("tok-del")
		if _, ok := c.Get("tok-del"); ok {
			t.Fatal("deleted entry returned")
		}
	})
	t.Run("size must be positive", func(t *testing.T) {
		if _, err := NewTokenCache(0); err == nil {
			t.Fatal("size 0 accepted")
		}
	})
}

// A token offered once is only recorded; offered again, it is cached. Tokens used once
// (every token new) then cost no cache entry.
func TestSetRepeatedCachesATokenFromItsSecondSighting(t *testing.T) {
	c, err := NewTokenCache(100)
	if err != nil {
		t.Fatal(err)
	}
	id := &Identity{Grant: &Grant{ClientID: "c"}, TokenID: "a"}
	c.SetRepeated("tok-a", id, time.Minute)
	if _, ok := c.Get("tok-a"); ok {
		t.Fatal("cached on the first sighting")
	}
	c.SetRepeated("tok-a", id, time.Minute)
	if got, ok := c.Get("tok-a"); !ok || got.TokenID != id.TokenID || got.ClientID != "c" {
		t.Fatal("not cached on the second sighting")
	}
	// Still never with a non-positive ttl, however often seen.
	for range 3 {
		c.SetRepeated("tok-exp", id, 0)
	}
	if _, ok := c.Get("tok-exp"); ok {
		t.Fatal("zero ttl stored")
	}
}

// The doorkeeper forgets after as many first sightings as the cache holds, so its
// false-positive rate (first sightings taken for second ones) stays low however many
// distinct tokens go by.
func TestDoorkeeperFalsePositivesStayBounded(t *testing.T) {
	const entries = 10_000
	d := newDoorkeeper(entries)
	fp := 0
	for i := range 20 * entries {
		if d.seenBefore(tokenHash("tok-" + strconv.Itoa(i))) {
			fp++
		}
	}
	// 8 bits per entry and 3 probes: under 3.1% at the end of a window, less on average.
	if rate := float64(fp) / (20 * entries); rate > 0.03 {
		t.Fatalf("false-positive rate %.3f over 20 windows", rate)
	}
	// And a token seen again within the window is always recognised.
	d2 := newDoorkeeper(entries)
	for i := range entries / 2 {
		d2.seenBefore(tokenHash("again-" + strconv.Itoa(i)))
	}
	for i := range entries / 2 {
		if !d2.seenBefore(tokenHash("again-" + strconv.Itoa(i))) {
			t.Fatalf("token %d not recognised on its second sighting", i)
		}
	}
}

// A token may name any exp: one in the year 3000 is verified, cached and served from the
// cache with its expiry intact (Unix nanoseconds would stop in 2262).
func TestFarFutureTokenIsCachedWithItsExpiry(t *testing.T) {
	es := newES256(t, "es")
	cache, err := NewTokenCache(10)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, newSource(t, newJWKSServer(t, jwksFor(t, es)).URL, KeySourceOptions{}), func(o *JWTOptions) { o.Cache = cache })
	exp := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := sign(t, es, header(es, nil), claims(map[string]any{"exp": exp.Unix()}))
	for use := range 3 {
		id, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("use %d: %v", use+1, err)
		}
		if !id.ExpiresAt().Equal(exp) {
			t.Fatalf("use %d: expires at %v, want %v", use+1, id.ExpiresAt(), exp)
		}
	}
	if cache.Hits() != 1 {
		t.Fatalf("%d cache hits, want 1 (the third use)", cache.Hits())
	}
}
