package authserver

import (
	"context"

	"github.com/caddyoauth/caddy-oauth/store"
)

// refreshGrantStorage is what the refresh token grant calls (flow_refresh.go): reading
// the presented token, rotating it, and revoking its family when it is reused.
type refreshGrantStorage interface {
	GetRefreshToken(ctx context.Context, id string) (*store.RefreshToken, error)
	RotateRefreshToken(ctx context.Context, oldID string, at *store.AccessToken, refresh *store.RefreshToken) error
	RevokeRefreshFamily(ctx context.Context, familyID string) error
}
