package store

import (
	"context"
	"time"
)

// PurgeLoopStore is what purging needs of a store: the records and the login-throttling
// windows that may go.
type PurgeLoopStore interface {
	Purge(ctx context.Context, opts PurgeOptions) (int64, error)
	DeleteExpiredLoginFailures(ctx context.Context, now time.Time) (int64, error)
}

// PurgeRecords deletes what opts selects and, with opts.Expired, the login-throttling
// windows that have ended, as `caddy oauth purge` and the purge loop both do. A zero
// opts.Now means now. It returns how many rows went.
func PurgeRecords(ctx context.Context, st PurgeLoopStore, opts PurgeOptions) (int64, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	n, err := st.Purge(ctx, opts)
	if err != nil || !opts.Expired {
		return n, err
	}
	m, err := st.DeleteExpiredLoginFailures(ctx, opts.Now)
	return n + m, err
}

// PurgeExpiredEvery deletes expired records (PurgeRecords with Expired) every interval
// until ctx ends, and tells report, if set, what each round deleted or why it failed.
// Revoked tokens go once they expire: keeping them until then keeps refresh token reuse
// detection working. It returns when ctx ends; run it on its own goroutine.
func PurgeExpiredEvery(ctx context.Context, st PurgeLoopStore, every time.Duration, report func(deleted int64, err error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := PurgeRecords(ctx, st, PurgeOptions{Expired: true})
			if ctx.Err() != nil {
				// Stopped mid-round: the error, if any, is the cancellation.
				return
			}
			if report != nil {
				report(n, err)
			}
		}
	}
}
