package authserver

import (
	"context"

	"github.com/caddyoauth/caddy-oauth/store"
)

// deviceAuthorizationStorage is what the device authorization endpoint calls
// (device_authorization.go): recording a new device code.
type deviceAuthorizationStorage interface {
	CreateDeviceCode(ctx context.Context, d *store.DeviceCode) error
}
