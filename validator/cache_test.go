package validator

import (
	"testing"
	"time"
)

func TestTokenCache(t *testing.T) {
	c, err := NewTokenCache(100)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := &Identity{TokenID: "a"}

	t.Run("stored entry is returned and counted as a hit", func(t *testing.T) {
		c.Set("tok-a", id, time.Minute)
		c.Wait()
		if got, ok := c.Get("tok-a"); !ok || got != id {
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
		c.Set("tok-short", id, 30*time.Millisecond)
		c.Wait()
		if _, ok := c.Get("tok-short"); !ok {
			t.Fatal("fresh entry missing")
		}
		time.Sleep(60 * time.Millisecond)
		if _, ok := c.Get("tok-short"); ok {
			t.Fatal("expired entry returned")
		}
	})
	t.Run("non-positive ttl stores nothing", func(t *testing.T) {
		c.Set("tok-zero", id, 0)
		c.Set("tok-neg", id, -time.Second)
		c.Wait()
		if _, ok := c.Get("tok-zero"); ok {
			t.Fatal("zero ttl stored")
		}
		if _, ok := c.Get("tok-neg"); ok {
			t.Fatal("negative ttl stored")
		}
	})
	t.Run("deleted entry is gone", func(t *testing.T) {
		c.Set("tok-del", id, time.Minute)
		c.Wait()
		c.Delete("tok-del")
		c.Wait()
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
