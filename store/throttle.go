package store

import (
	"context"
	"time"
)

// LoginThrottleStore counts failed logins per key in fixed windows. Keys are opaque to
// the store (the server passes digests of a provider and username, or of a client
// address); keeping the counts in the store makes throttling hold across every node.
type LoginThrottleStore interface {
	// RecordLoginFailure counts one failure for key at now and returns the failures of
	// the current window and when that window ends. When key has no window, or its window
	// ended at or before now, a new window of length window starts at now with one failure.
	// Concurrent calls never lose a count.
	RecordLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) (failures int, until time.Time, err error)
	// LoginFailures returns the failures of key's window current at now and when it ends;
	// zero failures (and a zero time) when there is none.
	LoginFailures(ctx context.Context, key string, now time.Time) (failures int, until time.Time, err error)
	// ClearLoginFailures forgets key's failures, after a successful login. No error when
	// there are none.
	ClearLoginFailures(ctx context.Context, key string) error
	// DeleteExpiredLoginFailures deletes the windows that ended before now and returns
	// how many went.
	DeleteExpiredLoginFailures(ctx context.Context, now time.Time) (int64, error)
}
