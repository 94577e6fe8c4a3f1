package authserver

import (
	"context"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// deviceCodeGrantStorage is what the device code grant calls (flow_device_code.go):
// reading the device code, recording a poll and slowing a device down, and exchanging
// the approved code for tokens in one atomic step.
type deviceCodeGrantStorage interface {
	GetDeviceCode(ctx context.Context, id string) (*store.DeviceCode, error)
	PollDeviceCode(ctx context.Context, id string, now time.Time) (*store.DeviceCode, error)
	SlowDownDeviceCode(ctx context.Context, id string, by time.Duration) (time.Duration, error)
	ExchangeDeviceCode(ctx context.Context, id string, at *store.AccessToken, refresh *store.RefreshToken) error
}
