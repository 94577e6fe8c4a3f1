package authserver

import (
	"context"
	"time"
)

// loginThrottleStorage is what login throttling calls (login_throttle.go): the failure
// counts kept in the store, so the limits hold across every node.
type loginThrottleStorage interface {
	RecordLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) (failures int, until time.Time, err error)
	LoginFailures(ctx context.Context, key string, now time.Time) (failures int, until time.Time, err error)
	ClearLoginFailures(ctx context.Context, key string) error
}
