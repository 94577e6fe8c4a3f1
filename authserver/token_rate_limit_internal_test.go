package authserver

import (
	"strconv"
	"testing"
	"time"
)

// However many keys come through (an attacker making up client ids or addresses), the
// counter's memory is fixed and a key is never under-counted; collisions in both rows
// may over-count it a little: with 200,000 other keys in the window, about 3 (a
// 65,536-slot row then averages 3 per slot), far below the default limits of 1,200.
func TestWindowCounterStaysExactEnoughUnderManyKeys(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newWindowCounter(20, time.Minute)
	for i := range 200000 {
		c.take("noise-"+strconv.Itoa(i), now)
	}
	allowed := 0
	for range 20 {
		if ok, _ := c.take("mine", now); ok {
			allowed++
		}
	}
	if allowed < 10 {
		t.Fatalf("%d of 20 allowed after 200,000 other keys: the over-count is not small", allowed)
	}
	ok, wait := c.take("mine", now.Add(10*time.Second))
	if ok || wait != 50*time.Second {
		t.Fatalf("the 21st: ok=%v wait %s", ok, wait)
	}
	if ok, _ := c.take("mine", now.Add(time.Minute)); !ok {
		t.Fatal("refused in the next window")
	}
	var none *windowCounter
	if ok, _ := none.take("x", now); !ok {
		t.Fatal("no limit refused")
	}
}
