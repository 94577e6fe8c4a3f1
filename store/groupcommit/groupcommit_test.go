package groupcommit

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// Concurrent submissions share batches, each caller gets its own item's verdict, and a
// submission after Stop gets ErrClosed.
func TestEachCallerGetsItsOwnVerdict(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	q := Start(1, 8, func(batch []*Request[int]) {
		mu.Lock()
		sizes = append(sizes, len(batch))
		mu.Unlock()
		for _, r := range batch {
			if r.Item%3 == 0 {
				r.Answer(errors.New("refused"))
			} else {
				r.Answer(nil)
			}
		}
	})
	var wg sync.WaitGroup
	errs := make([]error, 100)
	for i := range errs {
		wg.Go(func() { errs[i] = q.Submit(context.Background(), i) })
	}
	wg.Wait()
	for i, err := range errs {
		if (i%3 == 0) != (err != nil) {
			t.Fatalf("item %d: %v", i, err)
		}
	}
	total := 0
	for _, n := range sizes {
		if n < 1 || n > 8 {
			t.Fatalf("a batch of %d", n)
		}
		total += n
	}
	if total != 100 {
		t.Fatalf("%d items written, want 100", total)
	}
	q.Stop()
	q.Stop() // twice is fine
	if err := q.Submit(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Stop: %v", err)
	}
}
