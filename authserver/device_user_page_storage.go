package authserver

import (
	"context"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// deviceUserPageStorage is what the device verification page calls
// (device_user_page.go): the device code a user code names and its client, recording the
// person's answer, and the failure counts of wrong user codes, kept in the login
// throttle's windows (under keys of their own) so every node shares them.
type deviceUserPageStorage interface {
	GetClient(ctx context.Context, id string) (*store.Client, error)
	GetDeviceCodeByUserCode(ctx context.Context, userCodeHash string) (*store.DeviceCode, error)
	DecideDeviceCode(ctx context.Context, id, decision, userID, provider string, authTime, now time.Time) error
	RecordLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) (failures int, until time.Time, err error)
	LoginFailures(ctx context.Context, key string, now time.Time) (failures int, until time.Time, err error)
}
