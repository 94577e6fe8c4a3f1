package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakePurge records what it was asked to purge.
type fakePurge struct {
	mu       sync.Mutex
	opts     []PurgeOptions
	windows  int
	purgeErr error
}

func (f *fakePurge) Purge(_ context.Context, opts PurgeOptions) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts = append(f.opts, opts)
	return 2, f.purgeErr
}

func (f *fakePurge) DeleteExpiredLoginFailures(context.Context, time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.windows++
	return 1, nil
}

// With Expired, the ended login-throttling windows go with the records; without, they
// stay; a failed purge deletes no windows.
func TestPurgeRecordsDeletesEndedThrottleWindowsWithExpiredRecords(t *testing.T) {
	ctx := context.Background()
	f := &fakePurge{}
	if n, err := PurgeRecords(ctx, f, PurgeOptions{Expired: true}); n != 3 || err != nil || f.windows != 1 || f.opts[0].Now.IsZero() {
		t.Fatalf("expired: %d %v, windows %d, opts %+v", n, err, f.windows, f.opts)
	}
	if n, err := PurgeRecords(ctx, f, PurgeOptions{Revoked: true}); n != 2 || err != nil || f.windows != 1 {
		t.Fatalf("revoked: %d %v, windows %d", n, err, f.windows)
	}
	f.purgeErr = errors.New("down")
	if _, err := PurgeRecords(ctx, f, PurgeOptions{Expired: true}); err == nil || f.windows != 1 {
		t.Fatalf("failed purge: %v, windows %d", err, f.windows)
	}
}

// The loop purges expired records (never revoked ones that are still live) every
// interval, reports each round, and returns when its context ends.
func TestPurgeExpiredEveryPurgesUntilStopped(t *testing.T) {
	f := &fakePurge{}
	ctx, cancel := context.WithCancel(context.Background())
	rounds := make(chan int64, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		PurgeExpiredEvery(ctx, f, 5*time.Millisecond, func(n int64, err error) {
			if err == nil {
				rounds <- n
			}
		})
	}()
	for i := 0; i < 2; i++ {
		select {
		case n := <-rounds:
			if n != 3 {
				t.Errorf("round deleted %d, want 3", n)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no purge round within 5s")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the loop did not stop")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.opts {
		if !o.Expired || o.Revoked {
			t.Errorf("purged with %+v, want expired only", o)
		}
	}
}
